"""Word lists the generator draws people, places and wording from.

Everything here is cp1252-encodable on purpose: one Amazon file is written in cp1252, as some
Seller Central downloads are. Names are invented combinations of common given and family
names; e-mail domains are the reserved ``example.*`` domains (RFC 2606), so demo data can
never reach a real mailbox.
"""

from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony",
    "Sandra", "Mark", "Margaret", "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily",
    "Paul", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Laura",
    "Edward", "Helen", "Jeffrey", "Sharon", "Ryan", "Cynthia", "Jacob", "Kathleen", "Gary", "Amy",
    "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna", "Stephen", "Brenda", "Larry",
    "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Olivia", "Benjamin", "Samantha",
    "Samuel", "Katherine", "Gregory", "Christine", "Alexander", "Rachel", "Patrick", "Hannah",
    "Frank", "Sophia", "Raymond", "Isabella", "Jack", "Mia", "Dennis", "Ava", "Jerry", "Grace",
    "Tyler", "Chloe", "Aaron", "Abigail", "Wei", "Mei", "Hiroshi", "Yuki", "Priya", "Arjun",
    "Aisha", "Omar", "Fatima", "Mohammed", "Carlos", "Lucia", "Diego", "Valentina", "Liam",
    "Noah", "Ethan", "Mateo", "Aiden", "Elena", "Leah", "Nadia", "Kwame", "Amara",
    # a few with accents (all in cp1252)
    "José", "Zoë", "Chloé", "Renée", "André", "Björn", "Siobhán", "Noémie", "Ramón", "Jürgen",
    "Søren", "François", "Inés", "Joël",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green",
    "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell",
    "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers",
    "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox",
    "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "James", "Hughes", "Price",
    "Sanders", "Myers", "Long", "Ross", "Foster", "Powell", "Jenkins", "Perry", "Russell",
    "Sullivan", "Fisher", "Henderson", "Coleman", "Simmons", "Patterson", "Jordan", "Reynolds",
    "Hamilton", "Graham", "Kim", "Nguyen", "Tran", "Le", "Chen", "Wang", "Li", "Zhang", "Liu",
    "Patel", "Shah", "Singh", "Kumar", "Khan", "Ali", "Cohen", "Rossi", "Russo", "Tanaka",
    "Suzuki", "Sato", "Okafor", "Mensah", "Hernandez", "Lopez", "Gonzalez", "Rodriguez",
    "Martinez", "Perez", "Sanchez", "Ramirez", "Torres", "Flores", "Rivera", "Ng", "Van der Berg",
    # apostrophes and accents
    "O'Brien", "O'Connor", "D'Angelo", "García", "Müller", "Núñez", "Peña", "Schröder", "Béland",
    "Östberg", "Gómez", "Lefèvre",
)  # fmt: skip

#: RFC 2606 reserved domains, weighted like a consumer mix.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
EMAIL_DOMAIN_WEIGHTS = (0.5, 0.25, 0.15, 0.10)

STREET_NAMES = (
    "Main", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park",
    "Walnut", "Sunset", "Lincoln", "Jackson", "Church", "Highland", "Franklin", "Willow",
    "Chestnut", "Madison", "Jefferson", "Ridge", "Spring", "Meadow", "River", "Forest",
    "Center", "Mill", "Union", "Prospect", "Adams", "Front", "Bridge", "Valley", "Cherry",
    "Dogwood", "Magnolia", "Hickory", "Birch", "Sycamore", "Laurel", "Orchard", "Harbor",
    "Summit", "Fairview", "Grant", "Monroe", "Vine", "2nd", "3rd", "4th", "5th", "6th", "7th",
    "Broad", "Market", "High", "School", "Railroad", "Academy",
)  # fmt: skip
STREET_SUFFIXES = ("St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct", "Way", "Pl", "Ter", "Cir", "Pkwy")
UNIT_PREFIXES = ("Apt", "Apt", "Unit", "Suite", "#")

COMPANIES = (
    "Brightline Dental", "Harbor & Pine Design", "Northgate Logistics", "Summit Physical Therapy",
    "Bluebird Bakery", "Keystone Property Group", "Redwood Analytics", "Copperleaf Studio",
    "Lakeside Veterinary Clinic", "Atlas Engineering", "Greenway Landscaping", "Union Street Cafe",
)  # fmt: skip

SHOPIFY_NOTES = (
    "Please leave at the side door.",
    "Gift - please don't include a receipt.",
    "Ring the bell twice.\nDog in yard, he's friendly.",
    "Deliver after 5pm if possible",
    "Birthday present!\nPlease wrap if you can.",
    "Leave with the front desk / concierge",
    "Gate code 4412\nBuilding C, 2nd floor",
)
DIRECT_NOTES = (
    "Customer called, wants delivery before the weekend.",
    "Repeat customer - use the address on file.",
    "Quote #Q-2291 accepted by email.",
    "Ship to job site; call foreman on arrival.\nSite closes at 4pm.",
    "Net 30 terms approved by AR.",
)
AMAZON_DELIVERY_INSTRUCTIONS = ("Leave at front door", "Leave in mailroom", "Call upon arrival")

# US states: code -> (name, 2020 census population in thousands, state base sales tax in 1e-5)
US_STATES: dict[str, tuple[str, int, int]] = {
    "AL": ("Alabama", 5024, 4000), "AK": ("Alaska", 733, 0), "AZ": ("Arizona", 7152, 5600),
    "AR": ("Arkansas", 3012, 6500), "CA": ("California", 39538, 7250),
    "CO": ("Colorado", 5774, 2900), "CT": ("Connecticut", 3606, 6350),
    "DE": ("Delaware", 990, 0), "DC": ("District of Columbia", 690, 6000),
    "FL": ("Florida", 21538, 6000), "GA": ("Georgia", 10712, 4000), "HI": ("Hawaii", 1455, 4000),
    "ID": ("Idaho", 1839, 6000), "IL": ("Illinois", 12813, 6250), "IN": ("Indiana", 6786, 7000),
    "IA": ("Iowa", 3190, 6000), "KS": ("Kansas", 2938, 6500), "KY": ("Kentucky", 4506, 6000),
    "LA": ("Louisiana", 4658, 5000), "ME": ("Maine", 1362, 5500), "MD": ("Maryland", 6177, 6000),
    "MA": ("Massachusetts", 7030, 6250), "MI": ("Michigan", 10077, 6000),
    "MN": ("Minnesota", 5706, 6875), "MS": ("Mississippi", 2961, 7000),
    "MO": ("Missouri", 6155, 4225), "MT": ("Montana", 1084, 0), "NE": ("Nebraska", 1962, 5500),
    "NV": ("Nevada", 3105, 6850), "NH": ("New Hampshire", 1378, 0),
    "NJ": ("New Jersey", 9289, 6625), "NM": ("New Mexico", 2118, 4875),
    "NY": ("New York", 20201, 4000), "NC": ("North Carolina", 10439, 4750),
    "ND": ("North Dakota", 779, 5000), "OH": ("Ohio", 11799, 5750),
    "OK": ("Oklahoma", 3959, 4500), "OR": ("Oregon", 4237, 0),
    "PA": ("Pennsylvania", 13003, 6000), "RI": ("Rhode Island", 1097, 7000),
    "SC": ("South Carolina", 5118, 6000), "SD": ("South Dakota", 887, 4200),
    "TN": ("Tennessee", 6911, 7000), "TX": ("Texas", 29146, 6250), "UT": ("Utah", 3272, 4850),
    "VT": ("Vermont", 643, 6000), "VA": ("Virginia", 8631, 5300),
    "WA": ("Washington", 7705, 6500), "WV": ("West Virginia", 1794, 6000),
    "WI": ("Wisconsin", 5894, 5000), "WY": ("Wyoming", 577, 4000),
}  # fmt: skip

#: Share of international ship-to countries among the ~5% non-US orders.
INTERNATIONAL_SHARE = {"CA": 0.30, "GB": 0.20, "AU": 0.15, "JP": 0.13, "DE": 0.12, "FR": 0.10}

# International places: (country, city, region code, region name, woo state, postal rule).
# Postal rules: ("ca", [FSAs]) -> "M5V 2T6"; ("gb", [outward]) -> "SW1A 1AA";
# ("range", lo, hi, width) -> zero-padded number in [lo, hi]; ("jp", lo, hi) -> "NNN-NNNN".
INTERNATIONAL_PLACES: tuple[tuple, ...] = (
    ("CA", "Toronto", "ON", "Ontario", "ON", ("ca", ("M5V", "M4C", "M6H", "M5A", "M4Y"))),
    ("CA", "Vancouver", "BC", "British Columbia", "BC", ("ca", ("V6B", "V5K", "V6K", "V5T"))),
    ("CA", "Montréal", "QC", "Quebec", "QC", ("ca", ("H2X", "H3A", "H2T", "H4A"))),
    ("CA", "Calgary", "AB", "Alberta", "AB", ("ca", ("T2P", "T3A", "T2R"))),
    ("CA", "Ottawa", "ON", "Ontario", "ON", ("ca", ("K1P", "K2P", "K1S"))),
    ("CA", "Halifax", "NS", "Nova Scotia", "NS", ("ca", ("B3H", "B3J", "B3K"))),
    ("CA", "Winnipeg", "MB", "Manitoba", "MB", ("ca", ("R3C", "R3M", "R2W"))),
    ("GB", "London", "", "", "", ("gb", ("SW1A", "EC1A", "N1", "SE1", "W1D", "E14", "NW3"))),
    ("GB", "Manchester", "", "", "", ("gb", ("M1", "M4", "M20"))),
    ("GB", "Birmingham", "", "", "", ("gb", ("B1", "B5", "B15"))),
    ("GB", "Leeds", "", "", "", ("gb", ("LS1", "LS6", "LS8"))),
    ("GB", "Glasgow", "", "", "", ("gb", ("G1", "G2", "G12"))),
    ("GB", "Edinburgh", "", "", "", ("gb", ("EH1", "EH3", "EH9"))),
    ("GB", "Bristol", "", "", "", ("gb", ("BS1", "BS8", "BS6"))),
    ("DE", "Berlin", "", "", "", ("range", 10115, 14199, 5)),
    ("DE", "Hamburg", "", "", "", ("range", 20095, 22769, 5)),
    ("DE", "München", "", "", "", ("range", 80331, 81929, 5)),
    ("DE", "Köln", "", "", "", ("range", 50667, 51149, 5)),
    ("DE", "Frankfurt am Main", "", "", "", ("range", 60306, 60599, 5)),
    ("DE", "Leipzig", "", "", "", ("range", 4103, 4357, 5)),
    ("FR", "Paris", "", "", "", ("range", 75001, 75020, 5)),
    ("FR", "Lyon", "", "", "", ("range", 69001, 69009, 5)),
    ("FR", "Marseille", "", "", "", ("range", 13001, 13016, 5)),
    ("FR", "Nice", "", "", "", ("range", 6000, 6300, 5)),
    ("FR", "Bordeaux", "", "", "", ("range", 33000, 33300, 5)),
    ("AU", "Sydney", "NSW", "New South Wales", "NSW", ("range", 2000, 2234, 4)),
    ("AU", "Melbourne", "VIC", "Victoria", "VIC", ("range", 3000, 3207, 4)),
    ("AU", "Brisbane", "QLD", "Queensland", "QLD", ("range", 4000, 4179, 4)),
    ("AU", "Perth", "WA", "Western Australia", "WA", ("range", 6000, 6199, 4)),
    ("AU", "Darwin", "NT", "Northern Territory", "NT", ("range", 800, 832, 4)),
    ("JP", "Chiyoda-ku", "JP-13", "Tokyo", "JP13", ("jp", 100, 102)),
    ("JP", "Shibuya-ku", "JP-13", "Tokyo", "JP13", ("jp", 150, 151)),
    ("JP", "Osaka", "JP-27", "Osaka", "JP27", ("jp", 530, 559)),
    ("JP", "Yokohama", "JP-14", "Kanagawa", "JP14", ("jp", 220, 247)),
    ("JP", "Nagoya", "JP-23", "Aichi", "JP23", ("jp", 450, 468)),
    ("JP", "Sapporo", "JP-01", "Hokkaido", "JP01", ("jp", 60, 65)),
)

INTERNATIONAL_STREETS = {
    "CA": ("King St W", "Queen St E", "Yonge St", "Granville St", "Rue Sainte-Catherine",
           "Jasper Ave"),
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue",
           "Mill Lane"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schillerstraße", "Lindenweg"),
    "FR": ("rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Voltaire"),
    "AU": ("George St", "Collins St", "Queen St", "Hay St", "Smith St", "Beach Rd"),
    "JP": ("Marunouchi", "Jingumae", "Umeda", "Minatomirai", "Sakae", "Kita 3-jo Nishi"),
}  # fmt: skip

#: Street layout: "number first" (12 High Street) or "number last" (Hauptstraße 12) or
#: Japanese chome-banchi-go (1-2-3 Marunouchi).
STREET_STYLE = {
    "CA": "first",
    "GB": "first",
    "AU": "first",
    "DE": "last",
    "FR": "first",
    "JP": "jp",
}

#: International telephone: (country code, national significant number length).
PHONE_PLANS = {"CA": ("1", 10), "GB": ("44", 10), "DE": ("49", 10), "FR": ("33", 9),
               "AU": ("61", 9), "JP": ("81", 10)}  # fmt: skip

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.6 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Mobile Safari/537.36",
)
