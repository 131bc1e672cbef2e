"""Reading what users import (tables, image folders, zip archives, S3 prefixes) into records.

Readers never touch the database: they yield :class:`~labella.ingest.records.RawRecord`
for each usable row and :class:`~labella.ingest.records.RowError` for each bad one,
so that the service can land the good rows and report the bad ones.
"""
