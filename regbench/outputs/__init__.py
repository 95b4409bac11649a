"""What a run leaves behind: the result schema, the files of a results folder, the
tables, the report and the regression gate. Reads and writes files only: no torch,
no plugin."""
