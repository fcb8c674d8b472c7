"""fupin social platform: Public poverty information, donor project listings with IATI export,
pledges and donations, investment projects, commendations (社会扶贫信息平台).
"""
