"""`liif info`: what this machine offers LIIF (devices, native precisions, what 'auto' picks)."""


def add_parser(sub):
    p = sub.add_parser(
        "info",
        help="show the hardware, the device and precision 'auto' picks, threads, versions",
        description="Show what LIIF detects on this machine and what device='auto' and precision='auto' pick here.",
    )
    p.set_defaults(func=run)


def run(args):
    from liif_plugin import __version__
    from liif_plugin.runtime import hardware
    from liif_plugin.runtime.hardware import pick_device
    from liif_plugin.runtime.memory_format import LAYOUTS

    device = pick_device("auto")
    rows = [("liif-plugin", __version__)] + hardware.report()
    rows.append(
        (
            "conv layout",
            ", ".join(f"{d}: {str(f).split('.')[-1]}" for d, f in LAYOUTS.items())
            + "; other devices: measured at first load",
        )
    )
    rows.append(("auto picks", f"device {device}, precision {hardware.auto_precision(device)}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
