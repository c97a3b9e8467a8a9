from reprolam.cli.main import main

main()
