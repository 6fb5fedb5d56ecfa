"""Invented but plausible names for Greater Manchester families, by naming tradition.

Lists run from most to least common; draws favour the front of a list (a Zipf-like weight), so common names
repeat as they do in real registers. A few names carry accents cp1252 can hold (Zoë, Siobhán, Wójcik) and a few
carry letters it cannot (Łukasz, Wiśniewski), which Windows-1252 extracts transliterate.
"""

from __future__ import annotations

import numpy as np

# tradition -> (girls, boys, women, men, surnames). Adults were born c. 1970-2000, children 2016-2022.
TRADITIONS: dict[str, tuple[list[str], list[str], list[str], list[str], list[str]]] = {
    "british": (
        ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Lily", "Ivy", "Isabella", "Rosie", "Grace", "Freya", "Poppy",
         "Evie", "Ella", "Sophia", "Willow", "Florence", "Sophie", "Emily", "Charlotte", "Isabelle", "Daisy",
         "Sienna", "Evelyn", "Ruby", "Matilda", "Phoebe", "Elsie", "Harper", "Millie", "Lola", "Maisie", "Esme",
         "Alice", "Zoe", "Chloe", "Zoë", "Megan", "Erin", "Jessica", "Hallie", "Darcie", "Lily-Rose", "Ellie-Mae",
         "Lacey-Mae", "Katherine", "Elizabeth", "Scarlett", "Renée", "Chloë", "Aria", "Layla", "Orla"],
        ["Oliver", "George", "Noah", "Harry", "Jack", "Leo", "Arthur", "Oscar", "Charlie", "Jacob", "Thomas",
         "Henry", "William", "Freddie", "Alfie", "Theo", "Archie", "Joshua", "James", "Ethan", "Isaac",
         "Alexander", "Joseph", "Edward", "Samuel", "Max", "Logan", "Lucas", "Daniel", "Teddy", "Finley",
         "Mason", "Harrison", "Dylan", "Riley", "Tommy", "Reggie", "Jaxon", "Louie", "Albie", "Ronnie",
         "Frankie", "Toby", "Jenson", "Elliot", "Kai", "Theodore", "Frederick", "Matthew", "Benjamin"],
        ["Sarah", "Laura", "Emma", "Gemma", "Rebecca", "Amy", "Lauren", "Hannah", "Jessica", "Kirsty", "Stacey",
         "Jade", "Danielle", "Natalie", "Claire", "Lisa", "Leanne", "Michelle", "Kelly", "Nicola", "Charlotte",
         "Sophie", "Katie", "Rachel", "Victoria", "Jennifer", "Stephanie", "Hayley", "Chloe", "Zoë", "Joanne",
         "Louise", "Carly", "Abigail", "Samantha", "Kayleigh"],
        ["James", "David", "Daniel", "Christopher", "Michael", "Matthew", "Andrew", "Mark", "Paul", "Lee",
         "Craig", "Ryan", "Adam", "Thomas", "Jonathan", "Stephen", "Liam", "Gary", "Dean", "Carl", "Jamie",
         "Ashley", "Anthony", "Richard", "Robert", "Scott", "Wayne", "Steven", "Kyle", "Shaun"],
        ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
         "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
         "Hughes", "Lee", "Harrison", "Edwards", "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris",
         "Moore", "Clark", "Baker", "Harris", "King", "Lewis", "Parker", "Bennett", "Allen", "Mitchell",
         "Holt", "Ashworth", "Greenhalgh", "Entwistle", "Schofield", "Whittaker", "Butterworth", "Lees",
         "Howarth", "Ramsbottom", "Hargreaves", "Kershaw", "Fletcher", "Campbell", "Grant", "Francis", "Bailey",
         "Smith-Jones", "Taylor-Brown", "Hughes-Davies", "Marsden", "Ogden", "Pilling"],
    ),
    "irish": (
        ["Niamh", "Aoife", "Siobhán", "Róisín", "Saoirse", "Orla", "Caoimhe", "Ciara", "Erin", "Maeve", "Sinéad",
         "Aisling", "Clodagh", "Éabha", "Grace"],
        ["Seán", "Ciarán", "Oisín", "Cian", "Conor", "Niall", "Cillian", "Darragh", "Liam", "Padraig", "Ronan",
         "Fionn", "Declan", "Eoin", "Callum"],
        ["Siobhán", "Niamh", "Aoife", "Claire", "Mary", "Bernadette", "Ciara", "Sinéad", "Orla", "Deirdre",
         "Gráinne", "Louise"],
        ["Seán", "Patrick", "Declan", "Kieran", "Brendan", "Conor", "Michael", "Liam", "Eamon", "Niall",
         "Dermot", "John"],
        ["Murphy", "Kelly", "O'Brien", "O'Connor", "O'Neill", "Byrne", "Ryan", "McCarthy", "Doyle", "Gallagher",
         "Walsh", "Quinn", "McDonagh", "O'Sullivan", "Flanagan", "Maguire", "Keane", "Brennan", "Nolan",
         "McGuinness", "Ó Súilleabháin", "Fitzgerald", "Duffy"],
    ),
    "eastern_european": (
        ["Zofia", "Zuzanna", "Łucja", "Wiktoria", "Maja", "Julia", "Hanna", "Amelia", "Alicja", "Ioana", "Maria",
         "Natália", "Weronika", "Oliwia", "Elena", "Andreea", "Emilija", "Anastasija", "Gabriela", "Nikola"],
        ["Jakub", "Łukasz", "Mikołaj", "Szymon", "Filip", "Oliwer", "Antoni", "Aleksander", "Andrei", "Luca",
         "Matei", "Dominik", "Tomáš", "Kacper", "Nikodem", "David", "Mihai", "Lukas", "Matas", "Bartosz"],
        ["Agnieszka", "Katarzyna", "Anna", "Magdalena", "Joanna", "Monika", "Ewa", "Małgorzata", "Ioana",
         "Elena", "Andreea", "Maria", "Kristina", "Jana", "Renáta", "Paulina"],
        ["Piotr", "Tomasz", "Paweł", "Krzysztof", "Marcin", "Michał", "Wojciech", "Andrei", "Ionuț", "Mihai",
         "Alexandru", "Marius", "Darius", "Tomáš", "Lukas", "Dariusz"],
        ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
         "Szymański", "Dąbrowski", "Woźniak", "Kozłowski", "Mazur", "Krawczyk", "Grabowski", "Popescu",
         "Ionescu", "Popa", "Dumitru", "Stan", "Constantin", "Horváth", "Novák", "Kazlauskas", "Jankauskas",
         "Petrov", "Tóth", "Nagy"],
    ),
    "pakistani": (
        ["Maryam", "Aisha", "Fatima", "Zainab", "Hafsa", "Inaya", "Eshal", "Amina", "Hania", "Zara", "Anaya",
         "Khadijah", "Safa", "Iqra", "Noor", "Aleena", "Hannah", "Mariam", "Aminah", "Haniya", "Aiza", "Sana"],
        ["Muhammad", "Mohammed", "Ibrahim", "Yusuf", "Ayaan", "Zayn", "Hamza", "Abdullah", "Musa", "Ali",
         "Hassan", "Rayyan", "Zakariya", "Haris", "Ahmed", "Umar", "Bilal", "Eesa", "Mohammad", "Yahya",
         "Idris", "Zain", "Adam", "Ismail"],
        ["Nasreen", "Shazia", "Samina", "Rubina", "Saima", "Sadia", "Ayesha", "Fatima", "Farah", "Nadia",
         "Sobia", "Uzma", "Asma", "Amina", "Rabia", "Nazia", "Kiran", "Sana"],
        ["Mohammed", "Imran", "Asif", "Tariq", "Kashif", "Adnan", "Zahid", "Nadeem", "Shahid", "Amir",
         "Muhammad", "Irfan", "Waqas", "Faisal", "Naveed", "Usman", "Sajid", "Khalid"],
        ["Khan", "Hussain", "Ahmed", "Ali", "Akhtar", "Iqbal", "Mahmood", "Shah", "Rehman", "Butt", "Malik",
         "Qureshi", "Aslam", "Rashid", "Javed", "Anwar", "Saleem", "Sharif", "Raza", "Mirza", "Bashir",
         "Hussein", "Mohammed", "Riaz"],
    ),
    "bangladeshi": (
        ["Ayesha", "Fatema", "Jannat", "Tasnim", "Nusrat", "Sumaiya", "Mahira", "Rumana", "Anisa", "Tahmina",
         "Maryam", "Aisha", "Safiya", "Hafsa", "Raisa", "Sadia"],
        ["Muhammad", "Abdul", "Ayaan", "Rayan", "Tahmid", "Arif", "Sami", "Zakir", "Ishaq", "Raihan", "Yusuf",
         "Ibrahim", "Adam", "Mohammed", "Safwan", "Rahim"],
        ["Shahena", "Rehana", "Nasima", "Rumana", "Shamima", "Salma", "Jahanara", "Forida", "Ruksana", "Nazma",
         "Tahmina", "Shilpi"],
        ["Abdul", "Mohammed", "Shahid", "Jamal", "Anwar", "Rashid", "Kamal", "Faruk", "Shafiq", "Habib",
         "Monir", "Jalal"],
        ["Uddin", "Miah", "Rahman", "Islam", "Hoque", "Ahmed", "Choudhury", "Hussain", "Ali", "Alam",
         "Sarkar", "Chowdhury", "Ullah", "Khan", "Haque", "Begum"],
    ),
    "indian": (
        ["Anaya", "Diya", "Priya", "Aanya", "Saanvi", "Simran", "Harleen", "Ishani", "Kavya", "Myra", "Riya",
         "Jasleen", "Amara", "Zara", "Aisha", "Navya"],
        ["Arjun", "Aarav", "Vihaan", "Krish", "Rohan", "Dev", "Harjot", "Gurveer", "Ishaan", "Reyansh", "Aryan",
         "Kabir", "Yash", "Veer", "Ayaan", "Rehan"],
        ["Priya", "Nisha", "Pooja", "Sunita", "Meera", "Anita", "Rupinder", "Harpreet", "Kiran", "Neha",
         "Bhavna", "Hetal", "Reena", "Sonal"],
        ["Rajesh", "Sanjay", "Amit", "Vikram", "Sunil", "Harjit", "Gurpreet", "Manish", "Nikhil", "Rahul",
         "Kamal", "Hitesh", "Dinesh", "Jaspal"],
        ["Patel", "Sharma", "Singh", "Gill", "Mistry", "Desai", "Parmar", "Kumar", "Shah", "Joshi", "Chauhan",
         "Sandhu", "Mehta", "Lad", "Solanki", "Dhillon", "Bhatt", "Randhawa", "Kaur", "Vaghela"],
    ),
    "african": (
        ["Grace", "Favour", "Blessing", "Precious", "Ifeoma", "Chioma", "Adaeze", "Temitope", "Hodan", "Fadumo",
         "Amina", "Ama", "Esther", "Zainab", "Deborah", "Mercy", "Oluwadamilare", "Nia", "Abigail", "Faith"],
        ["Emmanuel", "David", "Daniel", "Samuel", "Joshua", "Tobi", "Ayomide", "Chidera", "Oluwaseun",
         "Mohamed", "Abdirahman", "Kwame", "Kofi", "Nathaniel", "Ethan", "Jayden", "Elijah", "Divine",
         "Abdullahi", "Victor"],
        ["Funmilayo", "Ngozi", "Chiamaka", "Adunni", "Folake", "Hodan", "Fadumo", "Amina", "Ama", "Akosua",
         "Blessing", "Grace", "Patience", "Esther", "Halima", "Ifeoma"],
        ["Oluwaseun", "Chukwuemeka", "Adebayo", "Kwame", "Kofi", "Mohamed", "Abdi", "Ahmed", "Emmanuel",
         "Tunde", "Obinna", "Samuel", "Yaw", "Abdirahman", "Ibrahim", "Olumide"],
        ["Okafor", "Adeyemi", "Okonkwo", "Oyelaran", "Eze", "Adebayo", "Ogunleye", "Mensah", "Asante",
         "Boateng", "Mohamed", "Abdi", "Hassan", "Warsame", "Ali", "Tesfaye", "Nwosu", "Obi", "Olawale",
         "Osei", "Owusu", "Farah", "Adeleke", "Nwachukwu"],
    ),
    "east_asian": (
        ["Mei", "Xin", "Chloe", "Yu", "Hannah", "Jia", "Ling", "Emily", "Wing", "Anh", "Mai", "Sofia", "Grace",
         "Yan"],
        ["Jayden", "Ethan", "Hao", "Yi", "Ryan", "Jun", "Lucas", "Kai", "Minh", "Ryan", "Jason", "Wei", "Ivan",
         "Nathan"],
        ["Mei", "Ying", "Li", "Xiaoling", "Hui", "Lan", "Thi", "Linh", "Maria", "Joy", "Wing", "Yan"],
        ["Wei", "Jun", "Ming", "Hao", "Kevin", "Tuan", "Minh", "Jose", "Mark", "Chi", "Tony", "Lei"],
        ["Wang", "Li", "Zhang", "Chen", "Liu", "Wong", "Lam", "Ng", "Cheung", "Huang", "Nguyen", "Tran",
         "Santos", "Reyes", "Cruz", "Yang", "Zhao", "Lin", "Pham", "Garcia"],
    ),
    "middle_eastern": (
        ["Lana", "Maryam", "Layla", "Sara", "Yasmin", "Rania", "Hana", "Nour", "Dunya", "Ava", "Lina", "Dilan",
         "Elif", "Zeynep", "Rojin", "Salma"],
        ["Omar", "Yousef", "Adam", "Karim", "Ahmad", "Zain", "Ali", "Hadi", "Kian", "Aran", "Yusuf", "Emir",
         "Mustafa", "Rayan", "Ibrahim", "Elias"],
        ["Fatima", "Layla", "Zahra", "Nadia", "Maryam", "Leila", "Hanan", "Shirin", "Rana", "Ayşe", "Dilan",
         "Samira", "Amal", "Rim"],
        ["Ahmad", "Mohammad", "Ali", "Hassan", "Omar", "Karim", "Reza", "Hussein", "Mahmoud", "Kamal", "Aziz",
         "Khalid", "Mehmet", "Mustafa"],
        ["Al-Sayed", "Al-Hassan", "Haddad", "Mahmoud", "Abdullah", "Saleh", "Karimi", "Ahmadi", "Rahimi",
         "Hosseini", "Demir", "Kaya", "Öztürk", "Çelik", "Al-Amin", "Aziz", "Yilmaz", "Mustafa", "Rasul",
         "Abbas"],
    ),
}

# Ethnicity (canonical code) -> naming traditions of the family and their weights.
ETHNIC_TRADITIONS: dict[str, dict[str, float]] = {
    "white_british": {"british": 0.93, "irish": 0.07},
    "white_other": {"eastern_european": 0.75, "irish": 0.12, "british": 0.05, "middle_eastern": 0.08},
    "mixed": {"british": 0.75, "african": 0.1, "pakistani": 0.05, "irish": 0.05, "east_asian": 0.05},
    "asian_pakistani": {"pakistani": 1.0},
    "asian_bangladeshi": {"bangladeshi": 1.0},
    "asian_indian": {"indian": 1.0},
    "asian_other": {"east_asian": 0.6, "middle_eastern": 0.25, "pakistani": 0.15},
    "black_african": {"african": 1.0},
    "black_caribbean": {"british": 1.0},
    "black_other": {"african": 0.5, "british": 0.5},
    "other": {"middle_eastern": 0.7, "east_asian": 0.3},
    "not_stated": {"british": 0.8, "eastern_european": 0.1, "pakistani": 0.1},
}

# Nicknames and other spellings a different agency may record for the same person.
VARIANTS: dict[str, list[str]] = {
    "Oliver": ["Ollie"], "Alexander": ["Alex", "Xander"], "Thomas": ["Tom", "Tommy"], "Joshua": ["Josh"],
    "Samuel": ["Sam", "Sammy"], "Daniel": ["Danny", "Dan"], "James": ["Jamie", "Jim"], "Isabella": ["Bella"],
    "Isabelle": ["Izzy", "Isobel"], "Elizabeth": ["Libby", "Beth"], "Matilda": ["Tilly"], "Florence": ["Flo"],
    "Amelia": ["Millie"], "Sophia": ["Sofia"], "Zoë": ["Zoe"], "Chloë": ["Chloe"], "Aisha": ["Ayesha"],
    "Fatima": ["Fatimah"], "Yusuf": ["Yousuf", "Yousef"], "Zayn": ["Zain"], "Maryam": ["Mariam"],
    "Mohammed": ["Muhammad", "Mohammad", "Mohamed"], "Muhammad": ["Mohammed", "Mohammad"],
    "Mohammad": ["Mohammed"], "Hussain": ["Hussein"], "Choudhury": ["Chowdhury"], "Siobhán": ["Siobhan"],
    "Seán": ["Sean", "Shaun"], "Theodore": ["Theo", "Teddy"], "Frederick": ["Freddie", "Fred"],
    "Harrison": ["Harry"], "Katherine": ["Kate", "Katie", "Catherine"], "Benjamin": ["Ben"],
    "Matthew": ["Matt"], "Jacob": ["Jake"], "Zakariya": ["Zakaria", "Zachariah"], "Eesa": ["Isa", "Esa"],
    "Rayyan": ["Rayan"], "Khadijah": ["Khadija"], "Ibrahim": ["Ebrahim"], "Abdirahman": ["Abdulrahman"],
    "Oluwaseun": ["Seun"], "Temitope": ["Tope"], "Ayomide": ["Ayo"], "Chioma": ["Chi"], "Ifeoma": ["Ify"],
    "Ciarán": ["Ciaran", "Kieran"], "Róisín": ["Roisin", "Rosheen"], "Oisín": ["Oisin"], "Niamh": ["Neve"],
    "Aoife": ["Eva"], "Łukasz": ["Lukasz", "Luke"], "Jakub": ["Jacob", "Kuba"], "Mikołaj": ["Mikolaj"],
    "Wiktoria": ["Victoria"], "Zofia": ["Sophia"], "Aleksander": ["Alex"], "Reggie": ["Reginald"],
    "Alfie": ["Alfred"], "Archie": ["Archibald"], "Charlie": ["Charles"], "Ellie-Mae": ["Ellie Mae", "Ellie"],
    "Lily-Rose": ["Lily Rose", "Lily"], "Lacey-Mae": ["Lacey"], "Darcie": ["Darcy"], "Hallie": ["Hallie-Mae"],
    "McCarthy": ["MacCarthy"], "Wójcik": ["Wojcik"], "Nguyen": ["Ngyuen"],
    "Uddin": ["Udin"], "Miah": ["Mia"], "Rahman": ["Rehman"], "Rehman": ["Rahman"], "Mahmood": ["Mahmud"],
    "Patel": ["Patell"], "Begum": ["Begom"], "Okonkwo": ["Okonko"], "Mohamed": ["Mohammed"],
}

# Letters Windows-1252 cannot hold, as systems that export in it spell them.
TRANSLITERATION = str.maketrans({"Ł": "L", "ł": "l", "ś": "s", "Ś": "S", "ą": "a", "ę": "e", "ć": "c", "ń": "n",
                                 "ź": "z", "ż": "z", "Ż": "Z", "ț": "t", "ș": "s", "Ș": "S", "ı": "i", "ş": "s",
                                 "ğ": "g"})

# Polish surnames change ending with the bearer's sex (Kowalski, Kowalska).
_FEMININE_ENDINGS = (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka"))


def zipf_weights(n: int) -> np.ndarray:
    """Draw weights for a list ordered by popularity: the first names are several times as common as the last."""
    w = 1.0 / (np.arange(n) + 3.0) ** 0.9
    return w / w.sum()


def feminine(surnames: np.ndarray) -> np.ndarray:
    """The feminine form of each surname (only Polish -ski/-cki/-dzki names change)."""
    out = surnames.astype(object).copy()
    for masc, fem in _FEMININE_ENDINGS:
        hit = np.char.endswith(surnames.astype(str), masc)
        out[hit] = [s[: -len(masc)] + fem for s in surnames[hit]]
    return out


def draw(rng: np.random.Generator, traditions: np.ndarray, slot: int) -> np.ndarray:
    """One name per element of ``traditions`` from list ``slot`` (0 girls, 1 boys, 2 women, 3 men, 4 surnames)."""
    out = np.empty(len(traditions), dtype=object)
    for tradition in sorted(TRADITIONS):
        hit = np.flatnonzero(traditions == tradition)
        if hit.size:
            names = TRADITIONS[tradition][slot]
            out[hit] = np.asarray(names, dtype=object)[rng.choice(len(names), hit.size, p=zipf_weights(len(names)))]
    return out


def draw_tradition(rng: np.random.Generator, ethnicity: np.ndarray) -> np.ndarray:
    """A naming tradition for each family, given its ethnicity."""
    out = np.empty(len(ethnicity), dtype=object)
    for eth in sorted(ETHNIC_TRADITIONS):
        hit = np.flatnonzero(ethnicity == eth)
        if hit.size:
            options = sorted(ETHNIC_TRADITIONS[eth])
            p = np.array([ETHNIC_TRADITIONS[eth][o] for o in options])
            out[hit] = np.asarray(options, dtype=object)[rng.choice(len(options), hit.size, p=p / p.sum())]
    return out
