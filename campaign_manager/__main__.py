from campaign_manager.cli import main

main()
