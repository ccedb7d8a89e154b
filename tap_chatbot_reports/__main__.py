"""Allow `python -m tap_chatbot_reports`."""

from tap_chatbot_reports.tap import main

main()
