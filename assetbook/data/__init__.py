"""Data sources: the loan-application generator and the landing folder reader."""
