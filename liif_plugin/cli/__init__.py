"""The ``liif`` command (``python -m liif_plugin.cli``): ``main`` builds the parser from one module
per subcommand (upscale, weights, data, evaluate, train, info), each with ``add_parser``."""
