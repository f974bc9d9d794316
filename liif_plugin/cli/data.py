"""`liif data list | fetch [NAME]`: real microscopy sample images, sha256-pinned."""

from liif_plugin.cli.main import add_actions
from liif_plugin.hub import sample_data
from liif_plugin.models import catalog


def add_parser(sub):
    dsub = add_actions(sub, "data", "list or fetch sample microscopy data")
    dsub.add_parser("list", help="show the sample data sets and which are present").set_defaults(func=cmd_list)
    f = dsub.add_parser("fetch", help="download sample data (default: all of it)")
    f.add_argument("name", nargs="?", default=None)
    f.set_defaults(func=cmd_fetch)


def cmd_list(args):
    print(f"data folder: {sample_data.data_dir()}  (set LIIF_DATA_DIR to change it)")
    known = sorted(catalog.data().items())
    width = max(len(name) for name, _ in known)
    for name, e in known:
        here = "present" if (sample_data.data_dir() / e.file).exists() else "missing"
        print(f"{name:{width}s}  {here:7s}  {e.description}; {e.licence}")
    return 0


def cmd_fetch(args):
    for name in [args.name] if args.name else sorted(catalog.data()):
        print(f"{name}: {sample_data.fetch(name)}")
    return 0
