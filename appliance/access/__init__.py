"""Who may do what: accounts and passwords, the role table, sign-in throttling, and the access
rules the web UI and the command line share."""
