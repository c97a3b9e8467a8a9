"""The reprolam command line."""


def start() -> None:
    """The ``reprolam`` console script: owns the process before click and the commands load
    (``reprolam.cli.process``), then runs the command (``reprolam.cli.main.main``)."""
    from reprolam.cli.process import own_process

    own_process()
    from reprolam.cli.main import main

    main()
