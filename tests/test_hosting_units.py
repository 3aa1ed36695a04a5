"""Hosted mode's pure logic: the policy read from ``[hosted]``, the passcode gate, and the
admission of a Start against the ledger's figures. The ledger itself, on a real database, is
in ``tests/test_ledger.py``; the whole of it through the app, in ``tests/test_browser_hosted.py``."""

from __future__ import annotations

import pytest

from voicelab.call.limits import CallLimits
from voicelab.hosting.allowance import DAY_S, Usage, admit, dollars, until_midnight
from voicelab.hosting.passcode import FREE_TRIES, MAX_ADDRESSES, PasscodeGate
from voicelab.hosting.policy import HostedPolicy, PolicyError, policy_from
from voicelab.hosting.sign_in import (
    Identity,
    button_label,
    identity_from,
    providers,
    refusal,
    sign_in_providers,
)

NOON = 20_000 * DAY_S + 12 * 3600.0  # a day's 12:00 UTC
HIDDEN = "a-turn-secret-never-shown"


# ---- the policy ----------------------------------------------------------------------------


def test_an_empty_section_is_hosted_mode_with_the_hosts_key_and_no_limits():
    policy = policy_from({})
    assert policy == HostedPolicy()
    assert policy.host_key_allowed and not policy.visitor_key_allowed
    assert admit(policy, Usage(1e6, 1e6, visitor_open=99, all_open=1000), NOON) == CallLimits()


def test_every_setting_is_read():
    policy = policy_from(
        {
            "passcode": "open sesame",
            "keys": "both",
            "allow_local": False,
            "minutes_per_day": 10,
            "calls_per_visitor": 1,
            "spend_per_call_usd": 0.5,
            "spend_per_day_usd": 2,
            "calls_at_once": 8,
            "trust_forwarded_for": True,
        }
    )
    assert policy.passcode == "open sesame" and policy.keys == "both"
    assert policy.host_key_allowed and policy.visitor_key_allowed
    assert not policy.allow_local and policy.trust_forwarded_for
    assert (policy.minutes_per_day, policy.spend_per_call_usd, policy.spend_per_day_usd) == (
        10.0,
        0.5,
        2.0,
    )
    assert (policy.calls_per_visitor, policy.calls_at_once) == (1, 8)


@pytest.mark.parametrize(
    ("section", "sentence"),
    [
        ({"pascode": "x"}, "[hosted] has no setting 'pascode'; the settings are"),
        ({"keys": "mine"}, "[hosted] keys must be one of host, visitor, both, not 'mine'."),
        ({"minutes_per_day": "ten"}, "[hosted] minutes_per_day must be a number, not 'ten'."),
        ({"minutes_per_day": -1}, "[hosted] minutes_per_day must be 0 or more, not -1."),
        ({"spend_per_day_usd": float("nan")}, "[hosted] spend_per_day_usd must be a number"),
        ({"calls_at_once": 2.5}, "[hosted] calls_at_once must be a whole number, 0 or more"),
        ({"calls_at_once": True}, "[hosted] calls_at_once must be a whole number"),
        ({"allow_local": "no"}, "[hosted] allow_local must be true or false, not 'no'."),
        ({"passcode": "  "}, "[hosted] passcode must be a non-empty string."),
    ],
)
def test_a_setting_that_cannot_be_used_is_one_sentence_naming_it(section, sentence):
    with pytest.raises(PolicyError) as raised:
        policy_from(section)
    assert str(raised.value).startswith(sentence)
    assert "\n" not in str(raised.value)


def test_the_passcode_is_never_in_a_policy_error():
    with pytest.raises(PolicyError) as raised:
        policy_from({"passcode": "secret-word", "keys": "nobody"})
    assert "secret-word" not in str(raised.value)


# ---- the passcode gate ---------------------------------------------------------------------


def test_the_right_passcode_lets_in_and_a_wrong_one_says_so():
    gate = PasscodeGate("open sesame")
    assert gate.check("open sesame", "10.0.0.1", 0.0).ok
    wrong = gate.check("open sesam", "10.0.0.1", 0.0)
    assert not wrong.ok and wrong.message == "That passcode is not right."
    assert not gate.check("", "10.0.0.1", 0.0).ok
    assert not gate.check("open sesame " * 1000, "10.0.0.1", 0.0).ok


def test_repeated_failures_from_one_address_are_slowed_and_others_are_not():
    gate = PasscodeGate("open sesame")
    for _ in range(FREE_TRIES):
        assert gate.check("guess", "10.0.0.1", 0.0).wait_s == 0.0
    first = gate.check("guess", "10.0.0.1", 0.0)
    assert first.wait_s == 2.0
    assert first.message == "Too many wrong passcodes; try again in 2 s."
    # while it waits, even the right passcode is not compared
    assert not gate.check("open sesame", "10.0.0.1", 1.0).ok
    assert gate.check("open sesame", "10.0.0.2", 1.0).ok  # another address is not slowed
    # each failure after the free ones doubles the wait
    assert gate.check("guess", "10.0.0.1", 2.0).wait_s == 4.0
    assert gate.check("guess", "10.0.0.1", 6.0).wait_s == 8.0
    # and the right passcode, once the wait is over, lets in and forgets the failures
    assert gate.check("open sesame", "10.0.0.1", 14.0).ok
    assert gate.check("guess", "10.0.0.1", 14.0).wait_s == 0.0


def test_the_gate_remembers_a_bounded_number_of_addresses():
    gate = PasscodeGate("open sesame")
    for i in range(MAX_ADDRESSES + 50):
        gate.check("guess", f"address-{i}", 0.0)
    assert len(gate._failures) == MAX_ADDRESSES
    assert gate.wait_s("address-0", 0.0) == 0.0  # the oldest went first


# ---- admission -----------------------------------------------------------------------------


def test_the_deployment_wide_limit_turns_a_further_visitor_away():
    policy = HostedPolicy(calls_at_once=2)
    assert isinstance(admit(policy, Usage(all_open=1), NOON), CallLimits)
    turned_away = admit(policy, Usage(all_open=2), NOON)
    assert turned_away == (
        "The demo is busy: 2 calls are going on, its limit. Try again in a few minutes."
    )


def test_the_busy_message_says_when_a_place_is_free_when_the_ledger_knows():
    policy = HostedPolicy(calls_at_once=2)
    # two calls open, one of them must end by its time limit 6 min 30 s from now
    turned_away = admit(policy, Usage(all_open=2, ends_by=(NOON + 390.0,)), NOON)
    assert turned_away == (
        "The demo is busy: 2 calls are going on, its limit. A place is free within 7 minutes "
        "(by 12:07 UTC); try again then."
    )
    # three open against a limit of two (two Starts at once on two replicas): two must end
    assert "within 10 minutes (by 12:10 UTC)" in admit(
        policy, Usage(all_open=3, ends_by=(NOON + 60.0, NOON + 600.0)), NOON
    )
    # only one of the two that must end has a limit: the ledger cannot say
    assert admit(policy, Usage(all_open=3, ends_by=(NOON + 60.0,)), NOON).endswith(
        "Try again in a few minutes."
    )
    # a limit already past (its row not yet ended): now, not in the past
    assert "within a minute (by 12:00 UTC)" in admit(
        policy, Usage(all_open=2, ends_by=(NOON - 5.0,)), NOON
    )


def test_one_visitors_calls_at_once_are_limited():
    policy = HostedPolicy(calls_per_visitor=1)
    refused = admit(policy, Usage(visitor_open=1, all_open=1), NOON)
    assert isinstance(refused, str) and "another tab or window" in refused


def test_daily_minutes_become_the_length_of_the_call_being_started():
    policy = HostedPolicy(minutes_per_day=10)
    limits = admit(policy, Usage(seconds_today=420.0), NOON)
    assert isinstance(limits, CallLimits) and limits.seconds == 180.0
    assert limits.seconds_problem == (  # said when the call ends: three minutes from now
        "You reached today's 10 call minutes on this demo, so the call was ended; your "
        "allowance renews at 00:00 UTC, in 11 h 57 min."
    )
    used_up = admit(policy, Usage(seconds_today=600.0), NOON)
    assert used_up == (
        "You have used today's 10 call minutes on this demo; your allowance renews at "
        "00:00 UTC, in 12 h 0 min."
    )


def test_the_tighter_of_the_call_and_the_daily_spend_limits_holds_with_its_own_sentence():
    policy = HostedPolicy(spend_per_call_usd=0.5, spend_per_day_usd=2.0)
    roomy = admit(policy, Usage(usd_today=0.25), NOON)
    assert isinstance(roomy, CallLimits) and roomy.usd == 0.5
    assert roomy.usd_problem.startswith("This call reached the demo's limit of $0.50 per call")
    tight = admit(policy, Usage(usd_today=1.75), NOON)
    assert isinstance(tight, CallLimits) and tight.usd == 0.25
    assert tight.usd_problem == (
        "You reached today's $2.00 on this demo, so the call was ended; your allowance "
        "renews at 00:00 UTC."
    )
    assert admit(policy, Usage(usd_today=2.0), NOON) == (
        "You have used today's $2.00 of this demo; your allowance renews at 00:00 UTC, in "
        "12 h 0 min."
    )


def test_time_to_midnight_and_dollars_read_as_words():
    assert until_midnight(NOON) == "12 h 0 min"
    assert until_midnight(NOON + 11 * 3600 + 59 * 60 + 30) == "1 min"
    assert until_midnight(NOON + 3600 * 11.5) == "30 min"
    assert until_midnight(NOON - 61) == "12 h 2 min"
    assert [dollars(v) for v in (0, 0.5, 2, 0.05, 0.0001, 0.00015)] == [
        "$0.00",
        "$0.50",
        "$2.00",
        "$0.05",
        "$0.0001",
        "$0.00015",
    ]


# ---- TURN ----------------------------------------------------------------------------------


def test_a_minted_turn_credential_is_coturns_rest_scheme_and_the_secret_never_leaves():
    import base64
    import hashlib
    import hmac

    from voicelab.hosting.turn import ice_servers, minted, turn_from

    settings = turn_from({"urls": "turn:127.0.0.1:3478", "secret": "s3cret", "ttl_s": 600})
    (server,) = ice_servers(settings, "visitor-1", NOON)
    assert server["urls"] == ["turn:127.0.0.1:3478"]
    assert server["username"] == f"{int(NOON) + 600}:visitor-1"
    expected = hmac.new(b"s3cret", server["username"].encode(), hashlib.sha1).digest()
    assert server["credential"] == base64.b64encode(expected).decode()
    assert "s3cret" not in repr(settings) and "s3cret" not in str(server)
    assert minted("s3cret", "a", NOON) != minted("s3cret", "a", NOON + 1)  # per expiry
    static = turn_from(
        {"urls": ["turns:turn.example.org:5349"], "username": "u", "credential": "p"}
    )
    assert ice_servers(static, "x", NOON) == [
        {"urls": ["turns:turn.example.org:5349"], "username": "u", "credential": "p"}
    ]


@pytest.mark.parametrize(
    ("section", "sentence"),
    [
        ({"urls": "stun:x", "secret": HIDDEN}, "[turn] urls must be one or more turn: or"),
        ({"urls": "turn:x"}, "[turn] needs a secret, or a username and a credential."),
        ({"urls": "turn:x", "secret": HIDDEN, "username": "u"}, "[turn] takes a secret or a"),
        ({"urls": "turn:x", "secret": HIDDEN, "ttl_s": 0}, "[turn] ttl_s must be a whole"),
        ({"urls": "turn:x", "secret": HIDDEN, "relay": True}, "[turn] has no setting 'relay'"),
    ],
)
def test_turn_settings_that_cannot_be_used_are_one_sentence(section, sentence):
    from voicelab.hosting.turn import turn_from

    with pytest.raises(PolicyError) as raised:
        turn_from(section)
    assert str(raised.value).startswith(sentence)
    assert HIDDEN not in str(raised.value)


def test_the_route_in_words_says_relayed_when_either_end_is_a_relay_candidate():
    from voicelab.media.ice_route import IceRoute

    relayed = IceRoute("completed", "host", "relay", "127.0.0.1:50000")
    assert relayed.relayed
    assert relayed.words("Browser leg") == (
        "Browser leg: relayed through TURN (the far side's relay candidate 127.0.0.1:50000), "
        "ICE completed."
    )
    direct = IceRoute("completed", "host", "host", "192.0.2.2:40000")
    assert direct.words("Upstream leg") == "Upstream leg: direct (192.0.2.2:40000), ICE completed."
    assert IceRoute("checking").words("Browser leg") == (
        "Browser leg: no media path yet (ICE checking)."
    )
    measured = IceRoute("completed", "host", "srflx", "203.0.113.7:5000", 23.4, 1990, 10, 2.06)
    assert measured.words("Browser leg") == (
        "Browser leg: direct, through the far side's NAT (203.0.113.7:5000), ICE completed; "
        "round trip 23 ms, 10 of 2,000 packets lost (0.5 %), jitter 2.1 ms."
    )


# ---- sign-in -------------------------------------------------------------------------------

AUTH = {"redirect_uri": "https://demo.example.org/oauth2callback", "cookie_secret": "c" * 32}
PROVIDER = {"client_id": "id", "client_secret": "shh", "server_metadata_url": "https://idp/x"}


def test_the_providers_of_an_auth_section_are_the_default_and_each_named_one():
    assert providers({**AUTH, **PROVIDER}) == ("default",)
    assert providers({**AUTH, "google": PROVIDER, "okta": PROVIDER}) == ("google", "okta")
    assert button_label("default") == "Sign in"
    assert button_label("google") == "Sign in with Google"
    assert sign_in_providers(None, None) == ()
    assert sign_in_providers(("@example.org",), {**AUTH, "google": PROVIDER}) == ("google",)


@pytest.mark.parametrize(
    ("auth", "sentence"),
    [
        ({**PROVIDER, "cookie_secret": "c"}, "[auth] needs redirect_uri for sign-in"),
        ({**PROVIDER, "redirect_uri": AUTH["redirect_uri"]}, "[auth] needs cookie_secret"),
        ({**AUTH, "redirect_uri": "https://demo/"}, "[auth] redirect_uri must be the app's URL"),
        (AUTH, "[auth] names no identity provider"),
        ({**AUTH, "client_id": "id"}, "[auth] is missing client_secret, server_metadata_url."),
        ({**AUTH, "google": {"client_id": "id"}}, "[auth.google] is missing client_secret"),
        ({**AUTH, "my_idp": PROVIDER}, "[auth.my_idp]: Streamlit refuses a provider name"),
    ],
)
def test_an_auth_section_st_login_would_refuse_is_one_sentence(auth, sentence):
    with pytest.raises(PolicyError) as raised:
        providers(auth)
    assert str(raised.value).startswith(sentence)
    assert "shh" not in str(raised.value)


def test_an_allow_list_without_sign_in_or_in_the_wrong_shape_is_refused():
    with pytest.raises(PolicyError, match=r"allowed_users needs sign-in: add an \[auth\]"):
        sign_in_providers(("@example.org",), None)
    for wrong in ("@example.org", [], ["ada"], ["ada@"], [7]):
        with pytest.raises(PolicyError, match=r"\[hosted\] allowed_users"):
            policy_from({"allowed_users": wrong})
    policy = policy_from({"allowed_users": ["Ada@Example.org", " @Team.example.org "]})
    assert policy.allowed_users == ("ada@example.org", "@team.example.org")


def test_an_identity_is_its_issuer_and_subject_and_the_allow_list_reads_its_email():
    claims = {"iss": "https://idp", "sub": "u-1", "email": "Ada@Example.org", "name": "Ada"}
    ada = identity_from(claims)
    assert ada == Identity("https://idp", "u-1", "ada@example.org", True, "Ada")
    assert ada.visitor == "https://idp u-1" and ada.shown == "ada@example.org"
    # another provider's user with the same subject is someone else
    assert identity_from({**claims, "iss": "https://other"}).visitor != ada.visitor
    assert identity_from({"email": "x@y"}) is None  # no subject: no identity
    long = identity_from({"iss": "https://" + "i" * 300, "sub": "s"})
    assert long.visitor.startswith("sha256 ") and len(long.visitor) < 255

    assert refusal(None, ada) is None  # no list: anyone who signs in
    assert refusal(("ada@example.org",), ada) is None
    assert refusal(("@example.org",), ada) is None
    assert refusal(("@sub.example.org", "bob@example.org"), ada) == (
        "This demo is open only to the people its host listed, and ada@example.org is not one "
        "of them; sign out and use another account."
    )
    unverified = identity_from({**claims, "email_verified": False})
    assert "has not verified ada@example.org" in refusal(("@example.org",), unverified)
    no_email = identity_from({"iss": "https://idp", "sub": "u-2"})
    assert "did not share an email address" in refusal(("@example.org",), no_email)
