"""A bike repair shop's knowledge base (English and Polish) and questions visitors ask, each with the entry
that answers it. The questions were written as visitors write (typos, Polish inflection, other words for
the same thing) before the search was tuned, and are not changed to suit it.

Used by bench/knowledge.py (recall and latency, per language and backend) and tests/test_knowledge_quality.py
(recall@3 asserted).
"""

from __future__ import annotations

# key -> (language, title, body, url)
ENTRIES: dict[str, tuple[str, str, str, str | None]] = {
    "hours": (
        "en",
        "Opening hours",
        "We are open Monday to Friday 9:00-18:00 and Saturday 10:00-14:00. Closed on Sundays and public holidays.",
        "https://spoke.example/hours",
    ),
    "location": (
        "en",
        "Where to find us",
        "Our workshop is at 12 Cycle Street, next to the central railway "
        "station. There is free parking for customers behind the building.",
        None,
    ),
    "service-basic": (
        "en",
        "Basic bike service",
        "The basic service costs $45: we adjust gears and brakes, "
        "check the chain, true the wheels slightly and inflate the tyres. Takes about one day.",
        "https://spoke.example/service",
    ),
    "service-full": (
        "en",
        "Full overhaul",
        "The full overhaul costs $120. We strip the bike, clean and "
        "grease the bearings, replace cables and housing, and check every bolt. Takes 3 working days.",
        None,
    ),
    "puncture": (
        "en",
        "Flat tyre and puncture repair",
        "We fix a puncture while you wait for $15 per wheel, inner tube included. Tubeless tyres are resealed for $20.",
        None,
    ),
    "ebike": (
        "en",
        "Electric bikes",
        "Yes, we service e-bikes of Bosch, Shimano Steps and Yamaha systems: "
        "motor diagnostics, firmware updates and battery health checks. E-bike service starts at $70.",
        "https://spoke.example/ebikes",
    ),
    "battery": (
        "en",
        "E-bike battery replacement",
        "A worn e-bike battery can be replaced with an original "
        "one; we order it in 3-5 days. We also recycle your old battery for free.",
        None,
    ),
    "brakes": (
        "en",
        "Brake repair",
        "Squeaking or weak brakes? We replace pads ($10 per wheel plus parts), "
        "bleed hydraulic disc brakes ($25 per brake) and adjust rim brakes.",
        None,
    ),
    "gears": (
        "en",
        "Gear adjustment",
        "If your chain skips or the gears do not shift cleanly, we adjust "
        "the derailleur and replace worn cables. Gear adjustment costs $15.",
        None,
    ),
    "chain": (
        "en",
        "Chain replacement",
        "A stretched chain wears the cassette. We measure it for free and replace it from $25 including the chain.",
        None,
    ),
    "booking": (
        "en",
        "Booking an appointment",
        "Book a repair slot online on our website or call us at +1 555 0100. Walk-ins are welcome for small repairs.",
        "https://spoke.example/book",
    ),
    "pickup": (
        "en",
        "Pickup and delivery",
        "We pick up and return your bike within 10 km for $10 each way. Order it when you book.",
        None,
    ),
    "warranty": (
        "en",
        "Repair warranty",
        "Every repair has a 6-month warranty on our work. If something "
        "we fixed fails, bring the bike back and we fix it for free.",
        None,
    ),
    "payment": (
        "en",
        "Payment methods",
        "We accept cash, debit and credit cards, Apple Pay and Google Pay. Companies can pay by invoice.",
        None,
    ),
    "rental": (
        "en",
        "Bike rental",
        "City bikes rent for $20 a day and e-bikes for $45 a day, helmet and "
        "lock included. A deposit of $100 is required.",
        "https://spoke.example/rent",
    ),
    "fitting": (
        "en",
        "Bike fitting",
        "A professional bike fit adjusts saddle height, handlebar reach and "
        "cleats to your body. It takes 90 minutes and costs $90.",
        None,
    ),
    "storage": (
        "en",
        "Winter storage",
        "We store your bike over the winter (November to March) for $60, "
        "including a basic service before you take it back.",
        None,
    ),
    "used": (
        "en",
        "Used bikes",
        "We buy and sell used bikes. Every used bike we sell is serviced and has a "
        "3-month warranty. Bring yours for a free valuation.",
        None,
    ),
    "godziny": (
        "pl",
        "Godziny otwarcia",
        "Jesteśmy otwarci od poniedziałku do piątku w godzinach 9:00-18:00 "
        "oraz w soboty 10:00-14:00. W niedziele i święta nieczynne.",
        None,
    ),
    "dojazd": (
        "pl",
        "Jak do nas trafić",
        "Warsztat mieści się przy ulicy Rowerowej 12, obok dworca "
        "głównego. Za budynkiem jest bezpłatny parking dla klientów.",
        None,
    ),
    "przeglad": (
        "pl",
        "Przegląd roweru",
        "Podstawowy przegląd roweru kosztuje 180 zł: regulujemy przerzutki "
        "i hamulce, sprawdzamy łańcuch, centrujemy koła i pompujemy opony. Trwa około jednego dnia.",
        "https://szprycha.example/przeglad",
    ),
    "kapcie": (
        "pl",
        "Naprawa przebitej dętki",
        "Łatamy przebitą dętkę lub wymieniamy ją od ręki: 60 zł za "
        "koło razem z nową dętką. Opony bezdętkowe uszczelniamy za 80 zł.",
        None,
    ),
    "elektryki": (
        "pl",
        "Rowery elektryczne",
        "Serwisujemy rowery elektryczne z napędami Bosch, Shimano Steps i "
        "Yamaha: diagnostyka silnika, aktualizacja oprogramowania, test baterii. Serwis od 280 zł.",
        "https://szprycha.example/elektryczne",
    ),
    "akumulator": (
        "pl",
        "Wymiana akumulatora",
        "Zużyty akumulator roweru elektrycznego wymieniamy na "
        "oryginalny; sprowadzamy go w 3-5 dni. Stary akumulator oddajemy do recyklingu bezpłatnie.",
        None,
    ),
    "hamulce": (
        "pl",
        "Naprawa hamulców",
        "Piszczące albo słabe hamulce? Wymieniamy klocki (40 zł za koło "
        "plus części), odpowietrzamy hamulce hydrauliczne (100 zł za hamulec) i regulujemy "
        "hamulce szczękowe.",
        None,
    ),
    "przerzutki": (
        "pl",
        "Regulacja przerzutek",
        "Jeśli łańcuch przeskakuje albo biegi nie wchodzą "
        "płynnie, regulujemy przerzutkę i wymieniamy zużyte linki. Regulacja kosztuje 60 zł.",
        None,
    ),
    "lancuch": (
        "pl",
        "Wymiana łańcucha",
        "Rozciągnięty łańcuch niszczy kasetę. Mierzymy go bezpłatnie, a wymiana kosztuje od 100 zł razem z łańcuchem.",
        None,
    ),
    "rezerwacja": (
        "pl",
        "Umawianie wizyty",
        "Termin naprawy zarezerwujesz przez stronę internetową albo "
        "telefonicznie pod numerem 22 555 01 00. Drobne naprawy robimy bez umawiania.",
        None,
    ),
    "odbior": (
        "pl",
        "Odbiór i dowóz roweru",
        "Odbierzemy rower spod domu i odwieziemy go po naprawie w promieniu 10 km za 40 zł w każdą stronę.",
        None,
    ),
    "gwarancja": (
        "pl",
        "Gwarancja na naprawy",
        "Na każdą naprawę dajemy 6 miesięcy gwarancji. Jeśli coś, co "
        "naprawiliśmy, się zepsuje, poprawimy to bezpłatnie.",
        None,
    ),
    "platnosci": (
        "pl",
        "Formy płatności",
        "Przyjmujemy gotówkę, karty płatnicze, BLIK, Apple Pay i Google Pay. Firmy mogą zapłacić przelewem na fakturę.",
        None,
    ),
    "wypozyczalnia": (
        "pl",
        "Wypożyczalnia rowerów",
        "Rower miejski wypożyczysz za 80 zł za dzień, rower "
        "elektryczny za 180 zł za dzień; kask i zapięcie w cenie. Wymagamy kaucji 400 zł.",
        None,
    ),
    "przechowywanie": (
        "pl",
        "Przechowywanie na zimę",
        "Przechowamy rower przez zimę (od listopada do marca) za 250 zł, razem z przeglądem przed odbiorem.",
        None,
    ),
    "uzywane": (
        "pl",
        "Rowery używane",
        "Skupujemy i sprzedajemy rowery używane. Każdy sprzedawany rower "
        "przechodzi przegląd i ma 3 miesiące gwarancji. Wycenę robimy za darmo.",
        None,
    ),
}

# (language, question, key of the entry that answers it)
QUESTIONS: list[tuple[str, str, str]] = [
    ("en", "When are you open?", "hours"),
    ("en", "are you open on saturday", "hours"),
    ("en", "What time do you close on fridays?", "hours"),
    ("en", "Where is your shop?", "location"),
    ("en", "Is there parking near the workshop?", "location"),
    ("en", "How much is a bike service?", "service-basic"),
    ("en", "I need a tune-up for my bicycle, what does it cost?", "service-basic"),
    ("en", "Do you do complete overhauls?", "service-full"),
    ("en", "I have a flat tire", "puncture"),
    ("en", "can you fix a punctured tube", "puncture"),
    ("en", "Hi! Do you repair e-bikes?", "ebike"),
    ("en", "do you service electric bicycles", "ebike"),
    ("en", "my ebike batery is dead, can you replace it?", "battery"),
    ("en", "My brakes squeak", "brakes"),
    ("en", "how much to bleed hydraulic brakes", "brakes"),
    ("en", "my chain keeps skipping when I shift", "gears"),
    ("en", "derailleur adjustment price", "gears"),
    ("en", "How much is a new chain?", "chain"),
    ("en", "How can I book an apointment?", "booking"),
    ("en", "Can you collect my bike from home?", "pickup"),
    ("en", "Is there a guarantee on repairs?", "warranty"),
    ("en", "Can I pay with a card?", "payment"),
    ("en", "Do you rent bikes?", "rental"),
    ("en", "Can you adjust my saddle height and handlebars?", "fitting"),
    ("en", "Where can I keep my bike during winter?", "storage"),
    ("en", "Do you sell second hand bikes?", "used"),
    ("pl", "O której otwieracie?", "godziny"),
    ("pl", "Czy jesteście czynni w sobotę?", "godziny"),
    ("pl", "Gdzie jest wasz warsztat?", "dojazd"),
    ("pl", "Czy można zaparkować przy serwisie?", "dojazd"),
    ("pl", "Ile kosztuje przegląd?", "przeglad"),
    ("pl", "Cześć, ile kosztuje przeglad roweru?", "przeglad"),
    ("pl", "złapałem gumę, przebita dętka", "kapcie"),
    ("pl", "Czy naprawiacie rowery elektryczne?", "elektryki"),
    ("pl", "serwis roweru elektrycznego bosch", "elektryki"),
    ("pl", "Potrzebuję nowego akumulatora do e-roweru", "akumulator"),
    ("pl", "piszczą mi hamulce", "hamulce"),
    ("pl", "ile za wymianę klocków hamulcowych?", "hamulce"),
    ("pl", "przerzutka źle chodzi, łańcuch przeskakuje", "przerzutki"),
    ("pl", "ile kosztuje wymiana łańcucha", "lancuch"),
    ("pl", "jak umówić się na naprawę?", "rezerwacja"),
    ("pl", "Czy odbieracie rowery z domu?", "odbior"),
    ("pl", "Jaka jest gwarancja na naprawę?", "gwarancja"),
    ("pl", "czy mogę zapłacić blikiem?", "platnosci"),
    ("pl", "Chcę wypożyczyć rower na weekend", "wypozyczalnia"),
    ("pl", "gdzie przechować rower zimą?", "przechowywanie"),
    ("pl", "Czy kupujecie używane rowery?", "uzywane"),
    ("pl", "ile kosztuje wypozyczenie roweru elektrycznego", "wypozyczalnia"),
]
