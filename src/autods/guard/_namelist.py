"""A small bundled list of common given names and surnames (US census-style, mixed origin).

Used only as evidence that a column *looks like* person names; coverage is deliberately
modest. Names are stored lower-case. Missing a rare name is expected: the header heuristics
and the value-shape test (two or three capitalised tokens) carry the rest.
"""

from __future__ import annotations

FIRST_NAMES: frozenset[str] = frozenset("""
james john robert michael william david richard joseph thomas charles christopher daniel matthew
anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason
jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel
gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas
zachary peter kyle ethan walter noah jeremy christian keith roger terry gerald harold sean austin carl
arthur lawrence dylan jesse jordan bryan billy joe bruce gabriel logan albert willie alan juan wayne
elijah randy roy vincent ralph eugene russell bobby mason philip louis mary patricia jennifer linda
elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley kimberly emily
donna michelle carol amanda dorothy melissa deborah stephanie rebecca sharon laura cynthia kathleen amy
angela shirley anna brenda pamela emma nicole helen samantha katherine christine debra rachel carolyn
janet catherine maria heather diane ruth julie olivia joyce virginia victoria kelly lauren christina
joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa ann sara madison frances
kathryn janice jean abigail alice judy sophia grace denise amber doris marilyn danielle beverly isabella
theresa diana natalie brittany charlotte marie kayla alexis lori ahmed ali fatima mohammed muhammad
aisha omar hassan yusuf wei li ying hiroshi yuki kenji priya raj anil sunita ravi deepak arjun
carlos luis miguel sofia lucia diego javier elena pablo ana rosa juana lars anders ingrid sven hans
klaus jurgen pierre jean francois marie claire giulia marco luca giovanni olga ivan dmitri sergei
""".split())

SURNAMES: frozenset[str] = frozenset("""
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez
wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark
ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams
nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker
cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper
peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood james
bennett gray mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez
powell jenkins perry russell sullivan bell coleman butler henderson barnes fisher vasquez simmons
wang chen zhang liu singh kumar khan ali muller schmidt schneider fischer weber meyer wagner rossi
russo ferrari esposito bianchi romano dubois durand lefebvre moreau tanaka suzuki sato watanabe
""".split())


def is_known_name(token: str) -> bool:
    t = token.strip(".,;:'\"()").lower()
    return t in FIRST_NAMES or t in SURNAMES
