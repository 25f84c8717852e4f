# A package so that setuptools installs the revision files; Alembic skips this file.
