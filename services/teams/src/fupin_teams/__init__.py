"""fupin teams: Stationed village work teams (驻村工作队): teams, quantified tasks, visits, cadre-
household pairing, assessment and coverage.
"""
