"""The layer command and the plugin's activation hook.

napari 0.9 lets plugins contribute to the Layers menu (we use Layers > Transform) but not to the
layer-list context menu. ``on_activate`` therefore appends the same command to that menu through
napari's app-model (a private API, guarded so that a napari without it simply lacks the item).
"""

from napari.layers import Layer
from napari.viewer import Viewer

COMMAND = "liif-plugin.resample_layer"
CONTEXT_MENU = "napari/layers/context"
WIDGET = "Resample with LIIF"
PLUGIN = "liif-plugin"


def open_for_layer(layer: Layer, viewer: Viewer):
    """Open (or raise) the Resample with LIIF widget, preset to `layer`."""
    from napari.layers import Image
    from napari.utils.notifications import show_warning

    if not isinstance(layer, Image):
        kind = type(getattr(layer, "__wrapped__", layer)).__name__ if layer is not None else "no"
        show_warning(f"LIIF resamples image layers; the selected layer is a {kind} layer")
        return None
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    reason = widget.why_not(layer)
    if reason is not None:  # a menu command: say why in one line, never raise into napari
        show_warning(f"LIIF: {reason}")
        widget.controller.say(reason)
        return widget
    widget.set_layer(layer)
    return widget


def register_context_menu(app=None):
    """Put the command into the layer list's right-click menu (for one selected image layer).

    Idempotent: returns True when the item is (now) there, False when napari offers no way to add it.
    """
    try:
        from app_model.types import CommandRule, MenuItem
        from napari._app_model import get_app_model
    except ImportError:
        return False
    app = app or get_app_model()
    if CONTEXT_MENU in app.menus and any(
        getattr(item, "command", None) is not None and item.command.id == COMMAND
        for item in app.menus.get_menu(CONTEXT_MENU)
    ):
        return True
    if COMMAND not in app.commands:
        return False
    item = MenuItem(
        command=CommandRule(id=COMMAND, title="Resample with LIIF…"),
        group="9_plugins",
        when="num_selected_image_layers == 1",
    )
    app.menus.append_menu_items([(CONTEXT_MENU, item)])
    return True


def on_activate(context=None):
    """npe2 calls this with the plugin context the first time a contribution is used."""
    register_context_menu()
