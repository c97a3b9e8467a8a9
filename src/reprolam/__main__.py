from reprolam.cli import start

start()
