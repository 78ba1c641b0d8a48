__version__ = "0.1.0"

# Where the rules' documentation is published (SARIF informationUri and helpUri).
PROJECT_URL = "https://github.com/qlint/qlint"
