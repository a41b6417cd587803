"""Escalation policy validation: every wrong place is named, as "level 2 target 1"."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from pager.domain.addresses import ip_literal, non_public_kind
from pager.domain.errors import ValidationFailed
from pager.domain.policy import (
    DEFAULT_ACK_TIMEOUT_SECONDS,
    EmailTarget,
    EscalationPolicy,
    Level,
    MattermostTarget,
    SlackTarget,
    SmsTarget,
    Target,
    TeamsTarget,
    VoiceTarget,
    WebhookTarget,
    validate_policy,
)

ALICE = EmailTarget("alice@example.com")
BOB = SmsTarget("+14155550100")
HOOK = WebhookTarget("https://hooks.example.com/pager")


def policy_with(*targets: Target) -> EscalationPolicy:
    return EscalationPolicy("ops", "Ops", (Level(targets, ack_timeout_seconds=60),))


def problems_of(policy: EscalationPolicy) -> tuple[tuple[str, str], ...]:
    with pytest.raises(ValidationFailed) as caught:
        validate_policy(policy)
    return caught.value.problems


def places_of(policy: EscalationPolicy) -> list[str]:
    return [where for where, _ in problems_of(policy)]


VALID_TARGETS = [
    pytest.param(EmailTarget("alice@example.com"), id="email"),
    pytest.param(EmailTarget("a.b+oncall@mail.example.co.uk"), id="email-plus-subdomains"),
    pytest.param(EmailTarget("ALICE@Example.COM"), id="email-upper-case"),
    pytest.param(SmsTarget("+14155550100"), id="sms-us"),
    pytest.param(SmsTarget("+442071838750"), id="sms-uk"),
    pytest.param(SmsTarget("+1234567"), id="sms-7-digits"),
    pytest.param(SmsTarget("+123456789012345"), id="sms-15-digits"),
    pytest.param(WebhookTarget("https://hooks.example.com/pager"), id="webhook-https"),
    pytest.param(
        WebhookTarget("http://hooks.example.com:8080/hook", secret="s3cret"), id="webhook-http"
    ),
    pytest.param(WebhookTarget("https://[2606:4700::1111]:8443/hook"), id="webhook-ipv6"),
    pytest.param(WebhookTarget("http://93.184.215.14/alerts?team=ops#x"), id="webhook-query"),
    # A name is not resolved here: one that resolves to a private address is refused when a
    # page is sent (the webhook and Slack channels).
    pytest.param(WebhookTarget("https://alerts.internal.example/hook"), id="webhook-name"),
    pytest.param(SlackTarget("https://hooks.slack.com/services/T0/B0/XX"), id="slack"),
    pytest.param(SlackTarget(channel="C0123ABCD"), id="slack-app-channel"),
    pytest.param(VoiceTarget("+14155550100"), id="voice"),
    pytest.param(TeamsTarget("https://example.webhook.office.com/webhookb2/x"), id="teams"),
    pytest.param(MattermostTarget("https://chat.example.com/hooks/xyz"), id="mattermost"),
]


@pytest.mark.parametrize("target", VALID_TARGETS)
def test_a_valid_target_passes(target: Target) -> None:
    policy = policy_with(target)
    assert validate_policy(policy) is policy


PRIVATE_URLS = [
    ("http://localhost:8080/hook", "localhost is this machine"),
    ("http://LOCALHOST./hook", "localhost. is this machine"),
    ("http://api.localhost/hook", "api.localhost is this machine"),
    ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("http://127.1/hook", "127.1 is a loopback address"),
    ("http://2130706433/hook", "2130706433 is a loopback address"),
    ("http://0x7f.0.0.1/hook", "0x7f.0.0.1 is a loopback address"),
    ("https://[::1]:8443/hook", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1 is a loopback address"),
    ("http://10.0.0.5/alerts?team=ops#x", "10.0.0.5 is a private address"),
    ("http://172.16.3.4/", "172.16.3.4 is a private address"),
    ("http://192.168.1.1/", "192.168.1.1 is a private address"),
    ("http://[::ffff:10.0.0.5]/", "::ffff:10.0.0.5 is a private address"),
    ("http://[fc00::5]/", "fc00::5 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254 is a cloud metadata address"),
    ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe is a cloud metadata address"),
    ("http://169.254.10.20/", "169.254.10.20 is a link-local address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://0.0.0.0:8080/", "0.0.0.0 is an unspecified address"),
    ("http://0.1.2.3/", "0.1.2.3 is an unspecified address"),
    ("http://[::]/", ":: is an unspecified address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://[ff02::1]/", "ff02::1 is a multicast address"),
    ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("http://255.255.255.255/", "255.255.255.255 is a reserved address"),
    ("http://100.64.0.1/", "100.64.0.1 is not a public address"),
]


@pytest.mark.parametrize(("url", "complaint"), PRIVATE_URLS)
@pytest.mark.parametrize("kind", [WebhookTarget, SlackTarget])
def test_a_private_target_is_refused_unless_allowed(
    kind: type[WebhookTarget | SlackTarget], url: str, complaint: str
) -> None:
    policy = policy_with(ALICE, kind(url))

    [(where, what)] = problems_of(policy)
    assert where == "level 1 target 2"
    assert what.startswith(complaint)
    assert what.endswith("set PAGER_ALLOW_PRIVATE_TARGETS=true on the server to allow it")
    assert validate_policy(policy, allow_private=True) is policy


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "93.184.215.14"]
)
def test_a_public_address_is_public(address: str) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "literal"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("::1", "::1"),
        ("1.2.3.4.5", None),  # looks numeric, but no address: a name to look up
        ("0x1ffffffff", None),
        ("example.com", None),
    ],
)
def test_a_host_is_an_address_in_any_form_the_resolver_reads_as_one(
    host: str, literal: str | None
) -> None:
    found = ip_literal(host)
    assert (None if found is None else str(found)) == literal


NOT_EMAIL = "is not an email address"
NOT_E164 = "is not an E.164 phone number"
NOT_URL = "is not an http(s) URL"

INVALID_TARGETS = [
    pytest.param(EmailTarget(""), NOT_EMAIL, id="email-empty"),
    pytest.param(EmailTarget("alice"), NOT_EMAIL, id="email-no-at"),
    pytest.param(EmailTarget("alice@"), NOT_EMAIL, id="email-no-domain"),
    pytest.param(EmailTarget("@example.com"), NOT_EMAIL, id="email-no-local"),
    pytest.param(EmailTarget("alice@example"), NOT_EMAIL, id="email-undotted"),
    pytest.param(EmailTarget("alice@@example.com"), NOT_EMAIL, id="email-two-at"),
    pytest.param(EmailTarget("a@b@example.com"), NOT_EMAIL, id="email-at-in-local"),
    pytest.param(EmailTarget("al ice@example.com"), NOT_EMAIL, id="email-space"),
    pytest.param(EmailTarget("alice@example..com"), NOT_EMAIL, id="email-dots"),
    pytest.param(EmailTarget("alice@.example.com"), NOT_EMAIL, id="email-dot-first"),
    pytest.param(EmailTarget("alice@example.com."), NOT_EMAIL, id="email-dot-last"),
    pytest.param(EmailTarget("alice@example.com\n"), NOT_EMAIL, id="email-newline"),
    pytest.param(EmailTarget("al\u200bice@example.com"), NOT_EMAIL, id="email-zero-width"),
    pytest.param(EmailTarget("alice@exa\x07mple.com"), NOT_EMAIL, id="email-control"),
    pytest.param(SmsTarget(""), NOT_E164, id="sms-empty"),
    pytest.param(SmsTarget("+"), NOT_E164, id="sms-plus-only"),
    pytest.param(SmsTarget("14155550100"), NOT_E164, id="sms-no-plus"),
    pytest.param(SmsTarget("+04155550100"), NOT_E164, id="sms-leading-0"),
    pytest.param(SmsTarget("+1 415 555 0100"), NOT_E164, id="sms-spaces"),
    pytest.param(SmsTarget("+1-415-555-0100"), NOT_E164, id="sms-dashes"),
    pytest.param(SmsTarget("+123456"), NOT_E164, id="sms-6-digits"),
    pytest.param(SmsTarget("+1234567890123456"), NOT_E164, id="sms-16"),
    pytest.param(SmsTarget("+1415555010a"), NOT_E164, id="sms-letter"),
    pytest.param(SmsTarget("+14155550100\n"), NOT_E164, id="sms-newline"),
    pytest.param(WebhookTarget(""), NOT_URL, id="webhook-empty"),
    pytest.param(WebhookTarget("ftp://example.com/x"), NOT_URL, id="webhook-ftp"),
    pytest.param(WebhookTarget("example.com/hook"), NOT_URL, id="webhook-no-scheme"),
    pytest.param(WebhookTarget("https://"), NOT_URL, id="webhook-no-host"),
    pytest.param(WebhookTarget("http:///hook"), NOT_URL, id="webhook-empty-host"),
    pytest.param(WebhookTarget("https://exa mple.com"), NOT_URL, id="webhook-space"),
    pytest.param(WebhookTarget("https://example.com/a b"), NOT_URL, id="path-space"),
    pytest.param(WebhookTarget("http://[::1/hook"), NOT_URL, id="webhook-bad-ipv6"),
    pytest.param(WebhookTarget("https://exa\tmple.com/"), NOT_URL, id="webhook-tab"),
    pytest.param(WebhookTarget("https://example.com/a\nb"), NOT_URL, id="newline"),
    pytest.param(WebhookTarget("https://example.com/\u202eb"), NOT_URL, id="bidi-override"),
    pytest.param(WebhookTarget("https://example.com/a\u00a0b"), NOT_URL, id="no-break-space"),
    pytest.param(WebhookTarget("http://[1:2:3]/hook"), NOT_URL, id="webhook-not-ipv6"),
    pytest.param(WebhookTarget("http://example.com:abc/"), NOT_URL, id="port-text"),
    pytest.param(WebhookTarget("http://example.com:99999/"), NOT_URL, id="port-big"),
    pytest.param(WebhookTarget("http://ex\uff03ample.com/"), NOT_URL, id="host-nfkc"),
    pytest.param(WebhookTarget("javascript:alert(1)"), NOT_URL, id="webhook-js"),
    pytest.param(SlackTarget("mailto:ops@example.com"), NOT_URL, id="slack-mailto"),
    pytest.param(SlackTarget("hooks.slack.com/services/T0"), NOT_URL, id="slack-bare"),
    pytest.param(TeamsTarget("ftp://example.com/x"), NOT_URL, id="teams-ftp"),
    pytest.param(MattermostTarget("chat.example.com/hooks/x"), NOT_URL, id="mattermost-bare"),
    pytest.param(VoiceTarget("4155550100"), "E.164", id="voice-not-e164"),
    pytest.param(SlackTarget(channel="#ops"), "Slack channel id", id="slack-channel-name"),
    pytest.param(SlackTarget(), "needs a url", id="slack-neither"),
    pytest.param(
        SlackTarget("https://hooks.slack.com/x", "C0123ABCD"), "not both", id="slack-both"
    ),
]


@pytest.mark.parametrize(("target", "complaint"), INVALID_TARGETS)
def test_an_invalid_target_is_named_with_its_level_and_position(
    target: Target, complaint: str
) -> None:
    problems = problems_of(policy_with(target))

    assert len(problems) == 1
    where, what = problems[0]
    assert where == "level 1 target 1"
    assert complaint in what


@pytest.mark.parametrize(
    ("policy", "places"),
    [
        pytest.param(
            EscalationPolicy("ops", "Ops", ()),
            ["levels"],
            id="no-level",
        ),
        pytest.param(
            EscalationPolicy("ops", "Ops", (Level((ALICE,)), Level(()))),
            ["level 2"],
            id="level-without-target",
        ),
        pytest.param(
            EscalationPolicy("ops", "Ops", (Level((ALICE,), ack_timeout_seconds=0),)),
            ["level 1 ack_timeout_seconds"],
            id="ack-timeout-0",
        ),
        pytest.param(
            EscalationPolicy("ops", "Ops", (Level((ALICE,)), Level((BOB,), -30))),
            ["level 2 ack_timeout_seconds"],
            id="ack-timeout-negative",
        ),
        pytest.param(
            EscalationPolicy("ops", "Ops", (Level((ALICE,)),), repeat=-1),
            ["repeat"],
            id="repeat-negative",
        ),
        pytest.param(
            EscalationPolicy("ops", "", (Level((ALICE,)),)),
            ["name"],
            id="name-empty",
        ),
        pytest.param(
            EscalationPolicy("ops", " \t", (Level((ALICE,)),)),
            ["name"],
            id="name-blank",
        ),
        pytest.param(
            EscalationPolicy("ops", "Ops", (Level((ALICE,)), Level((BOB, SmsTarget("555"))))),
            ["level 2 target 2"],
            id="second-target-of-second-level",
        ),
        pytest.param(
            EscalationPolicy("Ops Team", "", (Level((), 0),), repeat=-2),
            ["id", "name", "repeat", "level 1 ack_timeout_seconds", "level 1"],
            id="every-problem-at-once",
        ),
        pytest.param(
            EscalationPolicy(
                "ops", "Ops", (Level((EmailTarget("x"),)), Level((BOB, EmailTarget("y"))))
            ),
            ["level 1 target 1", "level 2 target 2"],
            id="one-problem-per-place",
        ),
    ],
)
def test_a_policy_that_breaks_a_rule_names_each_place(
    policy: EscalationPolicy, places: list[str]
) -> None:
    assert places_of(policy) == places


def test_the_error_message_says_where_and_what() -> None:
    policy = EscalationPolicy("ops", "Ops", (Level((ALICE,)), Level((EmailTarget("bob"),))))

    with pytest.raises(ValidationFailed, match=r"^level 2 target 1: 'bob' is not an email"):
        validate_policy(policy)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(ALICE, EmailTarget("alice@example.com"), id="same-email"),
        pytest.param(ALICE, EmailTarget("Alice@Example.com"), id="email-other-case"),
        pytest.param(BOB, SmsTarget("+14155550100"), id="same-phone"),
        pytest.param(HOOK, WebhookTarget(HOOK.url, secret="other"), id="webhook-other-secret"),
        pytest.param(
            SlackTarget("https://hooks.slack.com/x"),
            SlackTarget("https://hooks.slack.com/x"),
            id="same-slack",
        ),
    ],
)
def test_a_target_listed_twice_in_a_level_is_named(first: Target, second: Target) -> None:
    other = EmailTarget("carol@example.com")
    policy = EscalationPolicy("ops", "Ops", (Level((first, other, second)),))

    assert problems_of(policy) == (("level 1 target 3", "the same target is listed twice"),)


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(
            EscalationPolicy("ops", "Ops", (Level((ALICE,)), Level((ALICE,)))),
            id="same-target-on-two-levels",
        ),
        pytest.param(
            policy_with(
                WebhookTarget("https://x.example.com/h"), SlackTarget("https://x.example.com/h")
            ),
            id="webhook-and-slack-on-one-url",
        ),
        pytest.param(
            policy_with(EmailTarget("alice@example.com"), EmailTarget("alice@example.org")),
            id="similar-emails",
        ),
    ],
)
def test_targets_that_only_look_alike_are_not_duplicates(policy: EscalationPolicy) -> None:
    assert validate_policy(policy) is policy


def test_an_invalid_target_is_not_also_reported_as_a_duplicate() -> None:
    bad = EmailTarget("nobody")

    assert places_of(policy_with(bad, bad)) == ["level 1 target 1", "level 1 target 2"]


@pytest.mark.parametrize(
    "policy_id",
    ["a", "0", "ops", "ops-team-2", "9-lives", "a" * 63],
)
def test_a_valid_id_passes(policy_id: str) -> None:
    policy = replace(policy_with(ALICE), id=policy_id)

    assert validate_policy(policy) is policy


@pytest.mark.parametrize(
    "policy_id",
    ["", "Ops", "-ops", "ops_team", "ops team", "ops.team", "ops/1", "a" * 64, "ops\n", "é"],
)
def test_an_invalid_id_is_named(policy_id: str) -> None:
    problems = problems_of(replace(policy_with(ALICE), id=policy_id))

    assert len(problems) == 1
    assert problems[0][0] == "id"
    assert repr(policy_id) in problems[0][1]


@pytest.mark.parametrize(("seconds", "valid"), [(1, True), (2, True), (0, False), (-1, False)])
def test_ack_timeout_is_at_least_one_second(seconds: int, valid: bool) -> None:
    policy = EscalationPolicy("ops", "Ops", (Level((ALICE,), ack_timeout_seconds=seconds),))

    if valid:
        assert validate_policy(policy) is policy
    else:
        assert places_of(policy) == ["level 1 ack_timeout_seconds"]


@pytest.mark.parametrize(("repeat", "valid"), [(0, True), (1, True), (10, True), (-1, False)])
def test_repeat_is_zero_or_more(repeat: int, valid: bool) -> None:
    policy = replace(policy_with(ALICE), repeat=repeat)

    if valid:
        assert validate_policy(policy) is policy
    else:
        assert places_of(policy) == ["repeat"]


def test_defaults_are_fifteen_minutes_and_no_repeat() -> None:
    policy = EscalationPolicy("ops", "Ops", (Level((ALICE,)),))

    assert policy.level(1).ack_timeout_seconds == DEFAULT_ACK_TIMEOUT_SECONDS == 900
    assert policy.repeat == 0


def test_levels_are_numbered_from_one() -> None:
    first, second = Level((ALICE,)), Level((BOB,))
    policy = EscalationPolicy("ops", "Ops", (first, second))

    assert (policy.level(1), policy.level(2)) == (first, second)


@pytest.mark.parametrize(
    ("target", "label"),
    [
        (EmailTarget("alice@example.com"), "email alice@example.com"),
        (SmsTarget("+14155550100"), "sms +14155550100"),
        (
            WebhookTarget("https://hooks.example.com/T0/secret-path", "s3cret"),
            "webhook hooks.example.com",
        ),
        (SlackTarget("https://hooks.slack.com/services/T0/B0/XXXX"), "slack hooks.slack.com"),
        (SlackTarget(channel="C0123ABCD"), "slack channel C0123ABCD"),
        (VoiceTarget("+14155550100"), "voice +14155550100"),
        (
            TeamsTarget("https://example.webhook.office.com/secret"),
            "teams example.webhook.office.com",
        ),
        (MattermostTarget("https://chat.example.com/hooks/secret"), "mattermost chat.example.com"),
        (WebhookTarget("http://[::1"), "webhook ?"),
    ],
)
def test_a_target_label_names_who_is_paged_without_the_secret_part_of_a_url(
    target: Target, label: str
) -> None:
    assert target.label == label
    assert "secret" not in target.label
