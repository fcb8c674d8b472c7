"""fupin evaluation: County assessment on poverty-alleviation results (考核), the ten key tasks,
quarterly dispatch and reports, key-county exit.
"""
