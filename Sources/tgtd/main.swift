TGTDCommand.main()
