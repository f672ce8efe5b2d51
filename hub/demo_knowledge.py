"""The knowledge of the demo tenants (``bob-hub serve --demo``), so the built-in responder has something to
answer from without any API key: the platform's own questions, and a bike workshop for the business demo."""

from __future__ import annotations

# business_id -> (language, title, body in Markdown, url or None)
DEMO_KNOWLEDGE: dict[str, tuple[tuple[str, str, str, str | None], ...]] = {
    "office16852-platform": (
        ("en", "What Bob is", "Bob is an AI front office for your website: it answers visitors in a chat widget, "
         "hands a conversation to a person from your team when needed, and your agents watch and take over "
         "in Mission Control.", None),
        ("en", "Installing the widget", "Create a widget key in the portal (Widget keys), allow your site's "
         "origin, and paste the one `<script>` tag it shows into your pages. No build step.", None),
        ("en", "Languages", "The widget and the portal speak English and Polish; the AI answers in the "
         "visitor's language.", None),
        ("en", "Talking to a person", "Visitors can ask for a person at any time; your team sees them waiting "
         "in Mission Control and takes over the conversation.", None),
        ("pl", "Czym jest Bob", "Bob to recepcja AI Twojej strony: odpowiada odwiedzającym w widżecie czatu, "
         "przekazuje rozmowę osobie z zespołu, gdy trzeba, a agenci obserwują i przejmują rozmowy w Mission "
         "Control.", None),
        ("pl", "Instalacja widżetu", "Utwórz klucz widżetu w portalu (Klucze widżetu), dodaj źródło swojej "
         "strony i wklej pokazany znacznik `<script>` do stron. Bez budowania.", None),
    ),
    "business": (
        ("en", "Opening hours", "We are open Monday to Friday 9:00-18:00 and Saturday 10:00-14:00.", None),
        ("en", "Electric bikes", "Yes, we repair and service e-bikes (Bosch, Shimano Steps, Yamaha): motor "
         "diagnostics, firmware updates and battery checks. E-bike service starts at $70.", None),
        ("en", "Bike service", "A basic service costs $45: gears and brakes adjusted, chain checked, wheels "
         "trued, tyres inflated. It takes about one day.", None),
        ("en", "Flat tyre repair", "We fix a puncture while you wait: $15 per wheel, inner tube included.", None),
        ("en", "Orders and delivery", "Parts you order from us arrive in 2-4 working days; we email you when "
         "they are in. Ask us about an order with its number.", None),
        ("pl", "Godziny otwarcia", "Jesteśmy otwarci od poniedziałku do piątku 9:00-18:00, w soboty "
         "10:00-14:00.", None),
        ("pl", "Rowery elektryczne", "Tak, naprawiamy i serwisujemy rowery elektryczne (Bosch, Shimano Steps, "
         "Yamaha): diagnostyka silnika, aktualizacje, test baterii. Serwis od 280 zł.", None),
        ("pl", "Cennik napraw", "Przegląd podstawowy kosztuje 180 zł, naprawa przebitej dętki 60 zł za koło, "
         "wymiana łańcucha od 100 zł. Dokładną cenę naprawy podamy po obejrzeniu roweru.", None),
        ("pl", "Zamówienia części", "Zamówione części docierają w 2-4 dni robocze; napiszemy, gdy będą na "
         "miejscu. O zamówienie zapytaj, podając jego numer.", None),
    ),
}  # fmt: skip
