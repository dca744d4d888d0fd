from sgdoctor.cli import main

main()
