"""Conforming partner data: typed, pseudonymised staging tables per feed, and the conformed layer's common
dimensions (date, geography, partner) and facts."""
