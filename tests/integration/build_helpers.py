"""Helpers of the build tests: a context written from a dict, a build, its log."""
import os


def write_context(root, files):
    """``files``: path -> text/bytes, or ("link", target), or ("mode", mode, data)."""
    os.makedirs(root, exist_ok=True)
    for path, data in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if isinstance(data, tuple) and data[0] == "link":
            os.symlink(data[1], full)
            continue
        mode = None
        if isinstance(data, tuple) and data[0] == "mode":
            _, mode, data = data
        with open(full, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(full, mode)
    return str(root)


def build(client, ctx, text=None, **kwargs):
    """Build ``ctx`` (a dir); ``text`` is written to its Dockerfile first.
    Returns (image, [messages])."""
    if text is not None:
        with open(os.path.join(ctx, kwargs.get("dockerfile", "Dockerfile")), "w") as f:
            f.write(text)
    image, logs = client.images.build(path=ctx, **kwargs)
    return image, list(logs)


def text(log):
    return "".join(m.get("stream", "") for m in log)


def cached_steps(log):
    """Numbers of the steps that said 'Using cache'."""
    out, step = [], None
    for m in log:
        s = m.get("stream", "")
        if s.startswith("Step "):
            step = int(s.split()[1].split("/")[0])
        elif s.strip() == "---> Using cache":
            out.append(step)
    return out


def run(client, image, cmd):
    return client.containers.run(image, cmd, remove=True).decode()
