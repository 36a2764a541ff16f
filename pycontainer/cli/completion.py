"""``completion bash|zsh``: a shell completion script made from the verb table
and each verb's flags (so it never falls behind the command).

    source <(pycontainer completion bash)
    pycontainer completion zsh > "${fpath[1]}/_pycontainer"
"""
import shlex

GLOBAL_FLAGS = ["--root", "-H", "--host", "-c", "--context", "-l", "--log-level",
                "-v", "--version", "-h", "--help"]
# verbs whose arguments are containers, images: completed from the store
CONTAINER_ARGS = {"start", "stop", "restart", "kill", "rm", "logs", "exec", "attach",
                  "inspect", "top", "stats", "port", "rename", "update", "wait", "pause",
                  "unpause", "diff", "export", "commit", "container_inspect", "cp"}
IMAGE_ARGS = {"run", "create", "rmi", "tag", "save", "history", "push", "image_inspect"}


def args_completion(p):
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")


def table():
    """{words: [flags]} for every verb, as typed (``image ls``, ``ps``)."""
    from . import parser_for
    from .verbs import GROUPS, TOP
    words = {(v,): v for v in TOP}
    for g, subs in GROUPS.items():
        for s, v in subs.items():
            words[(g, s)] = v
    flags, kinds = {}, {}
    made = {}
    for w, verb in words.items():
        if verb not in made:
            p, _ = parser_for(verb, " ".join(w))
            made[verb] = sorted({o for a in p._actions for o in a.option_strings})
        flags[w] = made[verb]
        kinds[w] = ("container" if verb in CONTAINER_ARGS else
                    "image" if verb in IMAGE_ARGS else "")
    return flags, kinds


def bash():
    from .verbs import GROUPS, TOP
    flags, kinds = table()
    cases = []
    for w, fl in sorted(flags.items()):
        key = " ".join(w)
        cases.append(f"        {shlex.quote(key)}) flags={shlex.quote(' '.join(fl))}; "
                     f"kind={kinds[w] or 'none'} ;;")
    groups = "\n".join(f"        {g}) subs={shlex.quote(' '.join(subs))} ;;"
                       for g, subs in GROUPS.items())
    return BASH.format(top=" ".join(TOP + list(GROUPS)), globals=" ".join(GLOBAL_FLAGS),
                       groups=groups, cases="\n".join(cases))


BASH = """\
# bash completion for pycontainer (made by 'pycontainer completion bash')
_pycontainer() {{
    local cur words=() i w verb="" group="" subs="" flags="" kind=none
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
            --root|-H|--host|-c|--context|-l|--log-level) ((i++)); continue ;;
            -*) continue ;;
        esac
        if [ -z "$verb" ]; then verb="$w"
        elif [ -z "$group" ] && [ -n "$subs" ]; then group="$verb"; verb="$verb $w"; fi
        case "$verb" in
{groups}
        esac
        [ -n "$group" ] && break
        [ -z "$subs" ] && break
    done
    if [ -z "$verb" ]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "{globals}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "{top}" -- "$cur"))
        fi
        return
    fi
    if [ -n "$subs" ] && [ -z "$group" ]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
        return
    fi
    case "$verb" in
{cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [ "$kind" = container ]; then
        COMPREPLY=($(compgen -W "$(pycontainer ps -a --format '{{{{.Names}}}}' 2>/dev/null)" -- "$cur"))
    elif [ "$kind" = image ]; then
        COMPREPLY=($(compgen -W "$(pycontainer images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' 2>/dev/null)" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -F _pycontainer pycontainer pyc
"""


def zsh():
    from .verbs import GROUPS, TOP, VERBS
    flags, kinds = table()
    top = "\n".join(f"    {shlex.quote(v + ':' + VERBS[v][2].replace(':', ' '))}" for v in TOP)
    top += "\n" + "\n".join(f"    {shlex.quote(g + ':manage ' + g + 's')}" for g in GROUPS)
    cases = "\n".join(f"        {shlex.quote(' '.join(w))}) flags=({' '.join(fl)}); "
                      f"kind={kinds[w] or 'none'} ;;" for w, fl in sorted(flags.items()))
    groups = "\n".join(f"        {g}) subs=({' '.join(subs)}) ;;" for g, subs in GROUPS.items())
    return ZSH.format(top=top, cases=cases, groups=groups)


ZSH = """\
#compdef pycontainer pyc
# zsh completion for pycontainer (made by 'pycontainer completion zsh')
_pycontainer() {{
    local -a verbs subs flags
    local verb="" kind=none w
    verbs=(
{top}
    )
    for w in ${{words[2,CURRENT-1]}}; do
        [[ "$w" == -* ]] && continue
        if [[ -z "$verb" ]]; then verb="$w"
        elif (( ${{#subs}} )); then verb="$verb $w"; subs=(); break; fi
        case "$verb" in
{groups}
        esac
        (( ${{#subs}} )) || break
    done
    if [[ -z "$verb" ]]; then
        _describe 'command' verbs
        return
    fi
    if (( ${{#subs}} )); then
        compadd -a subs
        return
    fi
    case "$verb" in
{cases}
    esac
    if [[ "$PREFIX" == -* ]]; then
        compadd -a flags
    elif [[ "$kind" == container ]]; then
        compadd $(pycontainer ps -a --format '{{{{.Names}}}}' 2>/dev/null)
    elif [[ "$kind" == image ]]; then
        compadd $(pycontainer images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' 2>/dev/null)
    else
        _files
    fi
}}
compdef _pycontainer pycontainer pyc
"""


def cmd_completion(ctx, args):
    ctx.out.write(bash() if args.shell == "bash" else zsh())
    return 0
