"""``python -m pycontainer.oci``: the runtime without its C front end."""
if __name__ == "__main__":
    from .cli import main_exit
    main_exit()
