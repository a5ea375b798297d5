"""Demo data for development and tests: provider branches, one user per role, the shipped diagrams."""
import json
from pathlib import Path

from sqlmodel import select

from .contracts.catalog import DEMO_PROVIDERS
from .models import Provider
from .services.idp import IdpStore

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"
DEMO_PASSWORD = "qianyue-demo"
SEED_003_CREDIT_CODE = "12410728417309214T"  # 长垣市第一中学: the demo integration account acts for it
DEMO_USERS = [  # username, role, display name (a person's name: it is what signatures and the history show), email
    ("sales", "sales", "王敏", "sales@provider.example"),
    ("legal", "legal", "李娜", "legal@provider.example"),
    ("finance", "finance", "赵静", "finance@provider.example"),
    ("signatory", "provider", "陈志强", "signatory@provider.example"),
    ("branch_head", "provider", "王建国", "branch_head@provider.example"),  # approves the seal (seal_rights.dmn)
    ("admin", "admin", "刘洋", "admin@provider.example"),
    ("customer", "customer", "徐永立", "xu.yongli@school.example"),  # the school's integration account
]


def seed(platform):
    """Create what is missing; running it again changes nothing."""
    with platform.db.write() as session:
        for index, profile in enumerate(DEMO_PROVIDERS):
            if session.exec(select(Provider).where(Provider.code == profile["code"])).first() is None:
                session.add(Provider(code=profile["code"], is_default=index == 0,
                                     profile_json=json.dumps(profile, ensure_ascii=False)))
        platform.templates.ensure_shipped(session, "demo-seed")
        platform.letters.ensure_shipped(session, "demo-seed")
        for username, role, display_name, email in DEMO_USERS:
            if platform.accounts.find(session, username) is None:
                platform.accounts.create_user(session, username, [role], DEMO_PASSWORD, display_name, email,
                                              SEED_003_CREDIT_CODE if role == "customer" else None,
                                              DEMO_PROVIDERS[0]["code"] if role == "sales" else "")
    seed_identity_provider(platform)
    return deploy_shipped(platform, "demo-seed")


# Customer accounts in the embedded identity provider (development and tests only): the contacts of the two seeds.
DEMO_IDP_USERS = [  # username, name, email
    ("xu.yongli", "徐永立", "xu.yongli@school.example"),
    ("wu.jianrong", "吴建荣", "wu.jianrong@agency.example"),
]


def seed_identity_provider(platform):
    """Create the demo customers' accounts in the embedded identity provider (idempotent)."""
    store = IdpStore()
    with platform.db.write() as session:
        for username, name, email in DEMO_IDP_USERS:
            if store.find_user(session, username) is None:
                store.create_user(session, username, DEMO_PASSWORD, name, email, email_verified=True)


def deploy_shipped(platform, deployed_by):
    """Deploy every bpmn/*.bpmn; identical files create no new version."""
    results = []
    for path in sorted(BPMN_DIR.glob("*.bpmn")):
        with platform.db.write() as session:
            definition, created = platform.repository.deploy_file(session, path, deployed_by)
            results.append((path, definition.key, definition.version, created))
    return results
