from sgdoctor._entry import main

main()
