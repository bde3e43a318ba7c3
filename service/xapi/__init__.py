"""xAPI: statements about submissions, kept in the database and forwarded to an LRS."""
