"""Realistic SCIM request bodies, the way Okta and Microsoft Entra ID send them.

Every body is a pure function of the user's index, so the harness, the
in-process seeder and the peer all build the same directory.
"""
from __future__ import annotations

import random
import uuid
from typing import Any

from tests.scimdata import CORE_USER as CORE, ENTERPRISE, PATCH_OP

GIVEN = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Dorothy Jason Rebecca Edward Sharon Jeffrey Laura Ryan Cynthia "
    "Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan Brenda Stephen Emma Larry "
    "Anna Justin Pamela Scott Nicole Brandon Samantha Benjamin Katherine Samuel Christine "
    "Gregory Helen Alexander Debra Patrick Rachel Frank Carolyn Raymond Janet Jack Maria "
    "Dennis Catherine Jerry Heather Tyler Diane Aaron Olivia Jose Julie Adam Joyce Nathan "
    "Victoria Henry Ruth Zachary Virginia Douglas Lauren Peter Kelly Kyle Christina Noah "
    "Joan Ethan Evelyn Jeremy Judith Walter Andrea Christian Hannah Keith Megan Roger Cheryl "
    "Terry Jacqueline Austin Martha Sean Madison Gerald Teresa Carl Gloria Harold Sara Dylan "
    "Janice Arthur Ann Lawrence Kathryn Jordan Abigail Jesse Sophia Bryan Frances Billy Jean "
    "Bruce Alice Gabriel Judy Joe Isabella Logan Julia Alan Grace Juan Amber Albert Denise "
    "Willie Danielle Elijah Marilyn Wayne Beverly Randy Charlotte Vincent Natalie Mason Theresa "
    "Roy Diana Ralph Brittany Bobby Doris Russell Kayla Bradley Alexis Philip Lori Eugene Marie"
).split()

FAMILY = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales "
    "Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos "
    "Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes "
    "Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry "
    "Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons "
    "Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West "
    "Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro "
    "Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry "
    "Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez "
    "Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd "
    "Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols "
    "Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce "
    "Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong "
    "Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston "
    "Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval Guerrero George "
    "Chapman Rios Estrada Ortega Watkins Greene Nunez Wheeler Valdez Harper Burke Larson "
    "Santiago Maldonado Morrison Franklin Carlson Austin Dominguez Carr Lawson Jacobs Obrien "
    "Lynch Singh Vega Bishop Montgomery Oliver Jensen Harvey Williamson Gilbert Dean Sims "
    "Espinoza Howell Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch "
    "Rojas Lucas Marquez Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz "
    "Luna Fowler Mejia Davidson Acosta Brewer May Holland Juarez Newman Pearson Curtis "
    "Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller Avila Wade Molina "
    "Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert Miranda Byrd Craig"
).split()

DEPARTMENTS = ("Engineering", "Sales", "Marketing", "Finance", "Legal", "Support",
               "Operations", "Human Resources", "Product", "Security", "Facilities", "Research")
TITLES = ("Engineer", "Senior Engineer", "Account Executive", "Analyst", "Manager",
          "Director", "Designer", "Counsel", "Recruiter", "Specialist", "Consultant")
CITIES = (("Seattle", "WA", "98101"), ("Austin", "TX", "73301"), ("Boston", "MA", "02108"),
          ("Denver", "CO", "80202"), ("Chicago", "IL", "60601"), ("Atlanta", "GA", "30303"))


def person(i: int) -> dict[str, Any]:
    """The facts about user ``i`` that every body of theirs is built from."""
    rng = random.Random(i * 7919 + 17)
    given = rng.choice(GIVEN)
    family = rng.choice(FAMILY)
    city, region, postal = rng.choice(CITIES)
    return {
        "i": i,
        "given": given,
        "family": family,
        "email": f"{given}.{family}{i}@example.com".lower(),
        "upn": f"{given}.{family}{i}@contoso.example",
        "external_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "okta_id": "00u" + "".join(rng.choice("abcdefghijkmnopqrstuvwxyz0123456789") for _ in range(17)),
        "employee_number": str(100000 + i),
        "department": rng.choice(DEPARTMENTS),
        "title": rng.choice(TITLES),
        "phone": f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
        "mobile": f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
        "city": city, "region": region, "postal": postal,
        "street": f"{rng.randrange(1, 9999)} {rng.choice(FAMILY)} Street",
        "manager": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "cost_center": f"CC-{rng.randrange(1000, 9999)}",
    }


def okta_user(p: dict[str, Any]) -> dict[str, Any]:
    """An Okta "Push New Users" body (Okta's SCIM 2.0 guide, user creation request)."""
    return {
        "schemas": [CORE, ENTERPRISE],
        "userName": p["email"],
        "name": {"givenName": p["given"], "familyName": p["family"]},
        "emails": [{"primary": True, "value": p["email"], "type": "work"}],
        "displayName": f"{p['given']} {p['family']}",
        "locale": "en-US",
        "externalId": p["okta_id"],
        "groups": [],
        "active": True,
        "title": p["title"],
        ENTERPRISE: {
            "employeeNumber": p["employee_number"],
            "costCenter": p["cost_center"],
            "organization": "Example Corp",
            "division": "Americas",
            "department": p["department"],
        },
    }


def entra_user(p: dict[str, Any]) -> dict[str, Any]:
    """A Microsoft Entra ID create body (its SCIM reference request, with `aadOptscim062020`)."""
    return {
        "schemas": [CORE, ENTERPRISE],
        "externalId": p["external_id"],
        "userName": p["email"],
        "active": True,
        "displayName": f"{p['given']} {p['family']}",
        "emails": [{"primary": True, "type": "work", "value": p["email"]}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"{p['given']} {p['family']}", "familyName": p["family"],
                 "givenName": p["given"]},
        "title": p["title"],
        "preferredLanguage": "en-US",
        "phoneNumbers": [{"type": "work", "value": p["phone"]},
                         {"type": "mobile", "value": p["mobile"]}],
        "addresses": [{"type": "work", "streetAddress": p["street"], "locality": p["city"],
                       "region": p["region"], "postalCode": p["postal"], "country": "US",
                       "primary": True}],
        ENTERPRISE: {
            "employeeNumber": p["employee_number"],
            "department": p["department"],
            "manager": {"value": p["manager"]},
        },
    }


def create_body(i: int) -> dict[str, Any]:
    """User ``i``'s create body: even users come from Okta, odd ones from Entra ID."""
    p = person(i)
    return okta_user(p) if i % 2 == 0 else entra_user(p)


def put_body(i: int, scim_id: str, round_: int) -> dict[str, Any]:
    """Okta's "Push Profile Updates" full PUT of user ``i`` (the whole resource, id included)."""
    p = person(i)
    body = okta_user(p)
    body["id"] = scim_id
    body["title"] = TITLES[(i + round_) % len(TITLES)]
    body[ENTERPRISE]["department"] = DEPARTMENTS[(i + round_) % len(DEPARTMENTS)]
    return body


def patch_body(i: int, round_: int) -> dict[str, Any]:
    """Entra ID's multi-operation PATCH of user ``i`` (capitalised ops, string booleans)."""
    p = person(i)
    return {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Replace", "path": "displayName",
             "value": f"{p['given']} {p['family']} ({round_})"},
            {"op": "Replace", "path": "title", "value": TITLES[(i + round_) % len(TITLES)]},
            {"op": "Replace", "path": "active", "value": "True"},
            {"op": "Add", "path": 'phoneNumbers[type eq "work"].value',
             "value": f"+1 555 010 {round_ % 10000:04d}"},
            {"op": "Replace", "path": f"{ENTERPRISE}:department",
             "value": DEPARTMENTS[(i + round_) % len(DEPARTMENTS)]},
        ],
    }


def email_fragment(i: int, rng: random.Random) -> str:
    """A piece of user ``i``'s email, as an admin types into a search box (4–6 characters)."""
    local = person(i)["email"].split("@")[0]
    size = rng.randint(4, 6)
    start = rng.randrange(0, max(1, len(local) - size + 1))
    return local[start:start + size]


def family_prefix(i: int, rng: random.Random) -> str:
    """The first 2–4 letters of user ``i``'s family name."""
    family = person(i)["family"]
    return family[:rng.randint(2, min(4, len(family)))]
