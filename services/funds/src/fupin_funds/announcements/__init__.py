"""Public announcement (公告公示) with notice periods and objections."""
