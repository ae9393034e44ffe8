from healloop.cli.main import main

main()
