"""The PATCH tables (RFC 7644 §3.5.2): the RFC's examples, each error with its scimType, the
values each operation checks, the IdP quirks. Run through the engine alone (tests/scim) and
through the API (tests/api).

Each check takes the patched resource (or document with its ``schemas``) and says whether it is right.
"""
from __future__ import annotations

from tests.scimdata import CORE_USER as USER, ENTERPRISE, HOME_ADDRESS, PATCH_OP, WORK_ADDRESS


# RFC 7643 §8.2's full user (abridged): the body every table starts from, userName bjensen@example.com.
BABS = dict(
    externalId="701984",
    name={"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
    displayName="Babs Jensen",
    nickName="Babs",
    emails=[{"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"}],
    addresses=[WORK_ADDRESS, HOME_ADDRESS],
    phoneNumbers=[{"value": "555-555-5555", "type": "work"}],
    roles=[{"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
           {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}],
    **{ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations",
                    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}},
       "schemas": [USER, ENTERPRISE]},
)


def _work(body):
    return [a for a in body["addresses"] if a.get("type") == "work"]


RFC_EXAMPLES = [
    # §3.5.2.1: add without path adds each attribute of the value.
    ("add_without_path",
     [{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"},
                                         {"value": "b@other.org", "type": "other"}],
                              "nickName": "Barbie"}}],
     lambda b: (b["nickName"] == "Barbie"
                and [e["value"] for e in b["emails"]]
                == ["bjensen@example.com", "babs@jensen.org", "b@other.org"])),
    # §3.5.2.1: add to a multi-valued attribute appends the new values.
    ("add_members",
     [{"op": "add", "path": "roles", "value": [{"display": "Babs Jensen", "value": "2819c223-new"}]}],
     lambda b: [r["value"] for r in b["roles"]][-1] == "2819c223-new" and len(b["roles"]) == 3),
    # §3.5.2.1: add to a single-valued attribute replaces it.
    ("add_single_valued", [{"op": "add", "path": "nickName", "value": "Bee"}],
     lambda b: b["nickName"] == "Bee"),
    # §3.5.2.2: remove one member selected by a filter.
    ("remove_member_by_filter",
     [{"op": "remove", "path": 'roles[value eq "2819c223-7f76-453a-919d-413861904646"]'}],
     lambda b: [r["value"] for r in b["roles"]] == ["902c246b-6245-4190-8e05-00816be7344a"]),
    # §3.5.2 Figure 1: a sub-attribute of the values a filter selects.
    ("remove_sub_attribute_of_filtered_member",
     [{"op": "remove", "path": 'roles[value eq "2819c223-7f76-453a-919d-413861904646"].display'}],
     lambda b: b["roles"][0] == {"value": "2819c223-7f76-453a-919d-413861904646"}
     and b["roles"][1]["display"] == "Mandy Pepperidge"),
    ("replace_sub_attribute_of_filtered_member",
     [{"op": "replace", "path": 'roles[value eq "902c246b-6245-4190-8e05-00816be7344a"].display',
       "value": "Mandy P."}],
     lambda b: b["roles"][1]["display"] == "Mandy P." and b["roles"][0]["display"] == "Babs Jensen"),
    # §3.5.2.2: remove all values of a multi-valued attribute.
    ("remove_all_members", [{"op": "remove", "path": "roles"}], lambda b: "roles" not in b),
    # §3.5.2.2: remove a member, then add another, in one request.
    ("remove_then_add_member",
     [{"op": "remove", "path": 'roles[value eq "2819c223-7f76-453a-919d-413861904646"]'},
      {"op": "add", "path": "roles", "value": [{"display": "James Smith", "value": "08e1d05d"}]}],
     lambda b: [r["value"] for r in b["roles"]] == ["902c246b-6245-4190-8e05-00816be7344a", "08e1d05d"]),
    # §3.5.2.2: a filter with 'and' on two sub-attributes.
    ("remove_with_and_filter",
     [{"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'}],
     lambda b: [e["value"] for e in b["emails"]] == ["babs@jensen.org"]),
    # §3.5.2.2: remove a single-valued attribute and a sub-attribute.
    ("remove_single_valued", [{"op": "remove", "path": "nickName"}], lambda b: "nickName" not in b),
    ("remove_sub_attribute", [{"op": "remove", "path": "name.formatted"}],
     lambda b: b["name"] == {"familyName": "Jensen", "givenName": "Barbara"}),
    # §3.5.2.3: replace all members.
    ("replace_members",
     [{"op": "replace", "path": "roles", "value": [{"display": "Babs Jensen", "value": "2819c223"},
                                                   {"display": "James Smith", "value": "08e1d05d"}]}],
     lambda b: b["roles"] == [{"display": "Babs Jensen", "value": "2819c223"},
                              {"display": "James Smith", "value": "08e1d05d"}]),
    # §3.5.2.3: replace the values matched by a filter.
    ("replace_work_address",
     [{"op": "replace", "path": 'addresses[type eq "work"]',
       "value": {"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
                 "region": "CA", "postalCode": "91608", "country": "US",
                 "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": True}}],
     lambda b: _work(b) == [{"type": "work", "streetAddress": "911 Universal City Plaza",
                             "locality": "Hollywood", "region": "CA", "postalCode": "91608",
                             "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
                             "primary": True}] and b["addresses"][1] == HOME_ADDRESS),
    ("replace_filtered_email_with_an_object",
     [{"op": "replace", "path": 'emails[type eq "work"]', "value": {"value": "babs@example.com", "type": "work"}}],
     lambda b: b["emails"] == [{"value": "babs@example.com", "type": "work"},
                               {"value": "babs@jensen.org", "type": "home"}]),
    # §3.5.2.3: replace one sub-attribute of the matched values.
    ("replace_work_street",
     [{"op": "replace", "path": 'addresses[type eq "work"].streetAddress', "value": "1010 Broadway Ave"}],
     lambda b: _work(b)[0] == {**WORK_ADDRESS, "streetAddress": "1010 Broadway Ave"}),
    # §3.5.2.3: replace without path replaces each attribute of the value.
    ("replace_without_path",
     [{"op": "replace", "value": {"emails": [{"value": "bjensen@example.com", "type": "work", "primary": True},
                                             {"value": "babs@jensen.org", "type": "home"}],
                                  "nickName": "Babsy"}}],
     lambda b: len(b["emails"]) == 2 and b["nickName"] == "Babsy"),
    # §3.5.2 path forms: sub-attribute, valuePath with sub-attribute, extension URN paths.
    ("replace_name_family_name", [{"op": "replace", "path": "name.familyName", "value": "Jensen-Smith"}],
     lambda b: b["name"]["familyName"] == "Jensen-Smith" and b["name"]["givenName"] == "Barbara"),
    ("replace_work_email_value",
     [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "babs@example.com"}],
     lambda b: b["emails"][0] == {"value": "babs@example.com", "type": "work", "primary": True}),
    ("replace_work_locality",
     [{"op": "replace", "path": 'addresses[type eq "work"].locality', "value": "Burbank"}],
     lambda b: _work(b)[0]["locality"] == "Burbank"),
    ("replace_enterprise_department",
     [{"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Marketing"}],
     lambda b: b[ENTERPRISE]["department"] == "Marketing" and b[ENTERPRISE]["employeeNumber"] == "701984"),
    ("replace_enterprise_manager_value",
     [{"op": "replace", "path": f"{ENTERPRISE}:manager.value", "value": "boss-2"}],
     lambda b: b[ENTERPRISE]["manager"] == {"value": "boss-2"}),
    ("replace_enterprise_manager",
     [{"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": "boss-3"}}],
     lambda b: b[ENTERPRISE]["manager"] == {"value": "boss-3"}),
    ("remove_enterprise_manager", [{"op": "remove", "path": f"{ENTERPRISE}:manager"}],
     lambda b: "manager" not in b[ENTERPRISE]),
    ("core_urn_qualified_path", [{"op": "replace", "path": f"{USER}:displayName", "value": "B. J."}],
     lambda b: b["displayName"] == "B. J."),
    ("replace_extension_object",
     [{"op": "replace", "path": ENTERPRISE, "value": {"costCenter": "4130"}}],
     lambda b: b[ENTERPRISE]["costCenter"] == "4130" and b[ENTERPRISE]["department"] == "Tour Operations"),
    ("remove_extension_object", [{"op": "remove", "path": ENTERPRISE}],
     lambda b: ENTERPRISE not in b and b["schemas"] == [USER]),
    ("replace_complex_merges_sub_attributes",
     [{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}],
     lambda b: b["name"] == {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen",
                             "givenName": "Babs"}),
    ("filter_or_binds_looser_than_and",
     # (type eq "home") or (type eq "work" and value eq "nobody@x") -> only the home email.
     [{"op": "remove", "path": 'emails[type eq "home" or type eq "work" and value eq "nobody@x"]'}],
     lambda b: [e["value"] for e in b["emails"]] == ["bjensen@example.com"]),
    ("filter_not_and_parentheses",
     [{"op": "remove", "path": 'emails[not (type eq "work") and (value co "jensen")]'}],
     lambda b: [e["value"] for e in b["emails"]] == ["bjensen@example.com"]),
    ("filter_is_case_insensitive_where_schema_says",
     [{"op": "replace", "path": 'EMAILS[TYPE EQ "WORK"].Value', "value": "x@example.com"}],
     lambda b: b["emails"][0]["value"] == "x@example.com"),
    ("primary_moves_to_the_newly_marked_value",
     [{"op": "replace", "path": 'emails[type eq "home"].primary', "value": True}],
     lambda b: [e.get("primary") for e in b["emails"]] == [False, True]),
    ("added_primary_value_clears_the_old_one",
     [{"op": "add", "path": "emails", "value": [{"value": "new@x.org", "type": "other", "primary": True}]}],
     lambda b: [e.get("primary") for e in b["emails"]] == [False, None, True]),
    ("password_is_set_and_never_returned", [{"op": "replace", "path": "password", "value": "n3w-Secret"}],
     lambda b: "password" not in b),
    ("active_false_then_visible", [{"op": "replace", "path": "active", "value": False}],
     lambda b: b["active"] is False),
]


ERRORS = [
    ("remove_without_path", [{"op": "remove"}], 400, "noTarget"),
    ("remove_filter_matches_nothing", [{"op": "remove", "path": 'emails[type eq "pager"]'}], 400, "noTarget"),
    ("replace_filter_matches_nothing",
     [{"op": "replace", "path": 'addresses[type eq "other"]', "value": {"locality": "X"}}], 400, "noTarget"),
    ("replace_sub_of_unmatched_complex_filter",
     [{"op": "replace", "path": 'emails[value co "zzz" or type eq "pager"].value', "value": "a@b"}],
     400, "noTarget"),
    ("unknown_attribute", [{"op": "replace", "path": "favouriteColour", "value": "blue"}], 400, "invalidPath"),
    ("unknown_sub_attribute", [{"op": "replace", "path": "name.nickname", "value": "x"}], 400, "invalidPath"),
    ("unknown_schema_urn", [{"op": "replace", "path": "urn:example:ext:1.0:User:x", "value": "x"}],
     400, "invalidPath"),
    ("malformed_path", [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}], 400, "invalidPath"),
    ("path_not_a_string", [{"op": "replace", "path": 42, "value": "x"}], 400, "invalidPath"),
    ("filter_on_single_valued", [{"op": "replace", "path": 'name[givenName eq "x"]', "value": {}}],
     400, "invalidPath"),
    ("malformed_filter", [{"op": "remove", "path": "emails[type eq]"}], 400, "invalidFilter"),
    ("filter_unknown_sub_attribute", [{"op": "remove", "path": 'emails[colour eq "red"]'}], 400, "invalidFilter"),
    ("filter_empty", [{"op": "remove", "path": "emails[]"}], 400, "invalidFilter"),
    ("filter_nested_value_filter", [{"op": "remove", "path": 'emails[type[value eq "x"]]'}], 400, "invalidFilter"),
    ("filter_ordering_on_boolean", [{"op": "remove", "path": "emails[primary gt true]"}], 400, "invalidFilter"),
    ("filter_other_attribute", [{"op": "remove", "path": 'emails[phoneNumbers.type eq "work"]'}],
     400, "invalidFilter"),
    ("readonly_id", [{"op": "replace", "path": "id", "value": "mine"}], 400, "mutability"),
    ("readonly_meta", [{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}],
     400, "mutability"),
    ("readonly_groups", [{"op": "add", "path": "groups", "value": [{"value": "g1"}]}], 400, "mutability"),
    ("readonly_manager_display_name",
     [{"op": "replace", "path": f"{ENTERPRISE}:manager.displayName", "value": "Boss"}], 400, "mutability"),
    ("readonly_in_pathless_value", [{"op": "replace", "value": {"id": "mine"}}], 400, "mutability"),
    ("remove_required_username", [{"op": "remove", "path": "userName"}], 400, "mutability"),
    ("add_without_value", [{"op": "add", "path": "nickName"}], 400, "invalidValue"),
    ("replace_with_null", [{"op": "replace", "path": "nickName", "value": None}], 400, "invalidValue"),
    ("wrong_type_boolean", [{"op": "replace", "path": "active", "value": "maybe"}], 400, "invalidValue"),
    ("wrong_type_string", [{"op": "replace", "path": "displayName", "value": {"x": 1}}], 400, "invalidValue"),
    ("wrong_type_multi_valued", [{"op": "add", "path": "emails", "value": 17}], 400, "invalidValue"),
    ("pathless_value_not_object", [{"op": "replace", "value": "x"}], 400, "invalidValue"),
    ("empty_username", [{"op": "replace", "path": "userName", "value": ""}], 400, "invalidValue"),
    ("two_primaries", [{"op": "add", "path": "emails", "value": [
        {"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]}], 400, "invalidValue"),
    ("unknown_op", [{"op": "frobnicate", "path": "nickName", "value": "x"}], 400, "invalidSyntax"),
    ("op_missing", [{"path": "nickName", "value": "x"}], 400, "invalidSyntax"),
    ("operation_not_object", ["replace nickName"], 400, "invalidSyntax"),
]


VALUE_CHECKS = [
    ({"op": "replace", "path": "displayName", "value": 5}, "displayName: must be a string"),
    ({"op": "replace", "path": "name.givenName", "value": ["B"]}, "name.givenName: must be a string"),
    ({"op": "replace", "path": "name", "value": {"givenName": 1}}, "name.givenName: must be a string"),
    ({"op": "add", "path": "emails", "value": [{"value": "c@x"}, {"value": 2}]}, "emails[1].value: must be a string"),
    ({"op": "add", "path": 'emails[type eq "work"].value', "value": 5}, "emails[0].value: must be a string"),
    ({"op": "replace", "path": 'emails[type eq "work"]', "value": {"primary": "yes"}},
     "emails[0].primary: must be a boolean"),
    ({"op": "add", "path": 'phoneNumbers[type eq "mobile"]', "value": {"value": False}},
     "phoneNumbers[0].value: must be a string"),
    ({"op": "replace", "path": "emails.primary", "value": "maybe"}, "emails[0].primary: must be a boolean"),
    ({"op": "replace", "path": f"{ENTERPRISE}:department", "value": 5}, f"{ENTERPRISE}.department: must be a string"),
    ({"op": "replace", "path": f"{ENTERPRISE}:manager", "value": 7}, f"{ENTERPRISE}.manager.value: must be a string"),
    ({"op": "replace", "path": ENTERPRISE, "value": {"costCenter": True}}, f"{ENTERPRISE}.costCenter: must be a string"),
    ({"op": "replace", "value": {"nickName": "ok", "title": {"x": 1}}}, "title: must be a string"),
    ({"op": "add", "value": {"name.familyName": 3}}, "name.familyName: must be a string"),
    ({"op": "remove", "path": "roles", "value": [{"value": 4}]}, "roles[0].value: must be a string"),
]


QUIRKS = [
    ("okta_pathless_deactivate", [{"op": "replace", "value": {"active": False}}],
     lambda b: b["active"] is False),
    ("entra_capitalised_ops",
     [{"op": "Replace", "path": "displayName", "value": "B"}, {"op": "Add", "path": "title", "value": "T"},
      {"op": "Remove", "path": "nickName"}],
     lambda b: (b["displayName"], b["title"], "nickName" in b) == ("B", "T", False)),
    ("entra_boolean_as_string", [{"op": "Replace", "path": "active", "value": "False"}],
     lambda b: b["active"] is False),
    ("entra_primary_as_string",
     [{"op": "Add", "path": "emails", "value": [{"value": "n@x.org", "type": "other", "primary": "true"}]}],
     lambda b: b["emails"][-1]["primary"] is True and b["emails"][0]["primary"] is False),
    ("entra_pathless_dotted_and_urn_keys",
     [{"op": "Replace", "value": {"name.givenName": "Bea", "name.familyName": "J",
                                  f"{ENTERPRISE}:department": "Sales", f"{ENTERPRISE}:manager": "m-42",
                                  "displayName": "Bea J"}}],
     lambda b: (b["name"]["givenName"], b["name"]["familyName"], b["name"]["formatted"],
                b[ENTERPRISE]["department"], b[ENTERPRISE]["manager"], b["displayName"])
     == ("Bea", "J", "Ms. Barbara J Jensen, III", "Sales", {"value": "m-42"}, "Bea J")),
    ("entra_add_work_email_value_when_none_exists",
     [{"op": "remove", "path": 'emails[type eq "work"]'},
      {"op": "Add", "path": 'emails[type eq "work"].value', "value": "new@example.com"}],
     lambda b: b["emails"] == [{"value": "babs@jensen.org", "type": "home"},
                               {"type": "work", "value": "new@example.com"}]),
    ("entra_replace_mobile_phone_value_when_none_exists",
     [{"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "555-1234"}],
     lambda b: b["phoneNumbers"][-1] == {"type": "mobile", "value": "555-1234"}),
    ("entra_manager_bare_string", [{"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "boss-9"}],
     lambda b: b[ENTERPRISE]["manager"] == {"value": "boss-9"}),
    ("entra_manager_removed",
     [{"op": "Remove", "path": f"{ENTERPRISE}:manager", "value": [{"value": "26118915"}]}],
     lambda b: "manager" not in b[ENTERPRISE]),
    ("entra_roles_stringified_json_kept_as_sent",
     [{"op": "Add", "path": "roles",
       "value": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole",
                  "value": '{"id":"e7a1c4b2","value":"Admin","displayName":"Admin"}'}]}],
     lambda b: b["roles"][-1] == {"primary": True, "type": "WindowsAzureActiveDirectoryRole",
                                  "value": '{"id":"e7a1c4b2","value":"Admin","displayName":"Admin"}'}),
    ("entra_single_app_role_primary_eq_string",
     [{"op": "Add", "path": "roles", "value": [{"value": "User", "primary": True}]},
      {"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "Admin"}],
     lambda b: b["roles"][-1] == {"value": "Admin", "primary": True}),
    ("entra_single_app_role_when_none_exists",
     [{"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "Admin"}],
     lambda b: b["roles"][-1] == {"primary": True, "value": "Admin"}),
    ("entra_validator_multi_operation_replace",
     [{"op": "replace", "path": "userName", "value": "babs.new@example.com"},
      {"op": "replace", "path": "active", "value": False},
      {"op": "replace", "path": 'emails[type eq "work"].value', "value": "babs.new@example.com"},
      {"op": "replace", "path": "name.givenName", "value": "Babs"},
      {"op": "replace", "path": "name.familyName", "value": "Jensen-New"},
      {"op": "replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "1"}],
     lambda b: (b["userName"], b["active"], b["emails"][0]["value"], b["name"]["familyName"],
                b[ENTERPRISE]["employeeNumber"])
     == ("babs.new@example.com", False, "babs.new@example.com", "Jensen-New", "1")),
    ("pascal_case_keys_in_value",
     [{"op": "add", "path": "Emails", "value": [{"Value": "p@x.org", "Type": "other"}]}],
     lambda b: b["emails"][-1] == {"value": "p@x.org", "type": "other"}),
]


# Bodies that are not a PatchOp message (RFC 7644 §3.5.2): invalidSyntax.
NOT_PATCHOP = [
    ("no_schemas", {"Operations": [{"op": "replace", "path": "nickName", "value": "x"}]}),
    ("wrong_schema", {"schemas": [USER],
                      "Operations": [{"op": "replace", "path": "nickName", "value": "x"}]}),
    ("no_operations", {"schemas": [PATCH_OP]}),
    ("empty_operations", {"schemas": [PATCH_OP], "Operations": []}),
    ("operations_not_list", {"schemas": [PATCH_OP], "Operations": {"op": "replace"}}),
    ("bare_list", [{"op": "replace", "path": "nickName", "value": "x"}]),
]
