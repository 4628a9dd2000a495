from colorcli.cli import main

main()
