"""Image verbs: images, tag, rmi, save, load, import, history, image prune."""
import sys

from . import UsageError, output
from .common import add_filter, add_format, confirm, each, filters, refuse_terminal

IMAGES_TABLE = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_TITLES = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG",
                 "Digest": "DIGEST", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                 "Size": "SIZE", "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
                 "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE", "Daemon": "DAEMON"}


def split_tag(tag):
    """``repo:tag`` -> (repo, tag); a ``:`` in a registry host is not a tag."""
    repo, colon, t = tag.rpartition(":")
    if not colon or "/" in t:
        return tag, "<none>"
    return repo, t


class ImageRow:
    """One (image, tag) as ``images --format`` sees it."""

    FIELDS = ("Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository",
              "SharedSize", "Size", "Tag", "UniqueSize", "VirtualSize")

    def __init__(self, rec, tag, trunc=True, daemon=None):
        self._rec = rec
        self.Daemon = daemon or ""
        self.Repository, self.Tag = split_tag(tag) if tag else ("<none>", "<none>")
        self.ID = rec.id[7:19] if trunc else rec.id
        self.Digest = rec.manifest_digest or "<none>"
        self.CreatedAt = output.go_time(rec.created)
        self.CreatedSince = output.ago(rec.created)
        self.Size = self.VirtualSize = output.human_size(rec.size)
        self.SharedSize = self.UniqueSize = self.Containers = "N/A"

    def as_dict(self):
        d = {f: getattr(self, f) for f in self.FIELDS}
        if self.Daemon:
            d["Daemon"] = self.Daemon
        return d


def args_images(p):
    p.add_argument("-a", "--all", action="store_true",
                   help="Show all images (there are no intermediate images)")
    p.add_argument("--digests", action="store_true", help="Show digests")
    add_filter(p)
    add_format(p)
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")


def cmd_images(ctx, args):
    backends = ctx.backends()
    found = [(name, r) for name, b in backends
             for r in b.images(args.reference, filters(args.filter) or None)]
    trunc = not args.no_trunc
    if args.quiet:
        seen = []
        for _, r in found:
            rid = r.id[7:19] if trunc else r.id
            if rid not in seen:
                seen.append(rid)
        ctx.out.write("".join(f"{i}\n" for i in seen))
        return 0
    rows = [ImageRow(r, t, trunc, name) for name, r in found for t in (r.tags or [None])]
    table = IMAGES_TABLE
    if args.digests:
        table = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    if len(backends) > 1:
        table = "{{.Daemon}}\t" + table
    output.render(args.format, rows, table, IMAGES_TITLES, ctx.out)
    return 0


def args_tag(p):
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def cmd_tag(ctx, args):
    images = ctx.engine.images
    rec = images.get(args.source)
    repo, tag = split_tag(args.target)
    images.tag(rec.id, repo, None if tag == "<none>" else tag)


def args_rmi(p):
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="(accepted; untagged parents are "
                   "not kept apart)")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def _removal_lines(result):
    lines = []
    for item in result or []:
        for key, value in item.items():
            lines.append(f"{key}: {value}")
    return "\n".join(lines) or None


def cmd_rmi(ctx, args):
    images = ctx.engine.images
    return each(ctx, args.images, lambda r: _removal_lines(images.remove(r, args.force)),
                echo=False)


def args_save(p):
    p.add_argument("-o", "--output", metavar="string", help="Write to a file, instead of STDOUT")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def cmd_save(ctx, args):
    from .containers import write_stream
    images = ctx.engine.images
    for ref in args.images:
        images.get(ref)                 # an unknown one fails before anything is written
    if args.output is None:
        refuse_terminal(sys.stdout, "the archive")
    write_stream(images.save(args.images, 1 << 20), args.output, "the archive")


def args_load(p):
    p.add_argument("-i", "--input", metavar="string",
                   help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


def cmd_load(ctx, args):
    if args.input is None and sys.stdin.isatty():
        raise UsageError("requested load from stdin, but stdin is empty (a terminal): use "
                         "-i FILE or redirect a tar archive")
    src = args.input if args.input is not None else sys.stdin.buffer
    images = ctx.engine.images
    for rec in images.load(src):
        if args.quiet:
            continue
        tags = rec.loaded           # the archive's names: the image may have more
        if tags:
            ctx.out.write("".join(f"Loaded image: {t}\n" for t in tags))
        else:
            ctx.out.write(f"Loaded image ID: {rec.id}\n")


def args_import_(p):
    p.add_argument("-c", "--change", action="append", default=[], metavar="list",
                   help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", metavar="string", help="(not supported yet)")
    p.add_argument("file", metavar="file|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")


def cmd_import_(ctx, args):
    if args.message:
        raise UsageError("-m/--message is not supported yet by the engine's import")
    src = sys.stdin.buffer if args.file == "-" else args.file
    if "://" in args.file:
        raise UsageError("importing from a URL is not supported: download the file first")
    repo, tag = (None, None)
    if args.reference:
        repo, tag = split_tag(args.reference)
        tag = None if tag == "<none>" else tag
    rec = ctx.engine.images.import_image(src, repository=repo, tag=tag,
                                         changes=args.change or None)
    ctx.out.write(rec.id + "\n")


HISTORY_TABLE = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TITLES = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                  "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def args_history(p):
    add_format(p)
    p.add_argument("-H", "--human", default="true", metavar="bool",
                   help="Print sizes and dates in human readable format (default true)")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("image", metavar="IMAGE")


def cmd_history(ctx, args):
    import time
    from .common import face
    from ..models.images import Image
    image = Image(face(ctx), ctx.engine.images.get(args.image))
    steps = image.history()
    trunc, human = not args.no_trunc, args.human.lower() not in ("false", "0")
    if args.quiet:
        ctx.out.write("".join(f"{s['Id'][7:19] if trunc and s['Id'] != '<missing>' else s['Id']}\n"
                              for s in steps))
        return 0
    rows = []
    for s in steps:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s["Created"]))
        by = s["CreatedBy"]
        rows.append({
            "ID": s["Id"][7:19] if trunc and s["Id"].startswith("sha256:") else s["Id"],
            "CreatedSince": output.ago(created) if human else created,
            "CreatedAt": created,
            "CreatedBy": output.ellipsis(by, 45) if trunc else by,
            "Size": output.human_size(s["Size"]) if human else str(s["Size"]),
            "Comment": s["Comment"]})
    output.render(args.format, rows, HISTORY_TABLE, HISTORY_TITLES, ctx.out)
    return 0


def args_image_prune(p):
    p.add_argument("-a", "--all", action="store_true",
                   help="Remove all unused images, not just dangling ones")
    add_filter(p, short=False)
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def cmd_image_prune(ctx, args):
    what = ("all images without at least one container associated to them" if args.all
            else "all dangling images")
    if not confirm(ctx, f"WARNING! This will remove {what}.", args.force):
        return 0
    f = filters(args.filter)
    if args.all:
        f["dangling"] = ["false"]
    res = ctx.engine.images.prune(f or None)
    deleted = res.get("ImagesDeleted") or []
    if deleted:
        ctx.out.write("Deleted Images:\n" + "".join(
            "".join(f"{k.lower()}: {v}\n" for k, v in d.items()) if isinstance(d, dict)
            else f"deleted: {d}\n" for d in deleted) + "\n")
    ctx.out.write(f"Total reclaimed space: {output.human_size(res.get('SpaceReclaimed'))}\n")
    return 0
