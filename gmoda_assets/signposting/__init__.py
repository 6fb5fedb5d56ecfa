"""Signposting: which agencies already know a family with children, shown to each agency's practitioners as far
as the data-sharing agreements let them see (schema ``signposting``, purpose ``signposting``)."""
