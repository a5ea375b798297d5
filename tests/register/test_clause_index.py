"""The clause text the register searches: the paragraphs of each contract's current version, each distinct paragraph
stored once, and taken for contracts that existed before the register (the migration's register.index jobs)."""
from sqlalchemy import func, text
from sqlmodel import select

from tests.register.helpers import city, drafted, school
from workflows.models import Clause, Contract, ContractClause
from workflows.services.register import clause_texts


def test_the_paragraphs_are_the_innermost_blocks_without_the_style_sheet():
    html = ("<html><head><style>p { color: red }</style><title>x</title></head><body><h1>服务合同</h1>"
            "<div><p>第一条  业务\n内容</p><table><tr><td>1</td><td>考试服务</td></tr></table></div>"
            "<div class='page-header'>合同编号：N1</div><p>第一条 业务 内容</p></body></html>")
    assert clause_texts(html) == ["服务合同", "第一条 业务 内容", "1", "考试服务", "合同编号：N1"]


def test_boilerplate_is_stored_once(api, platform):
    first = drafted(api, school())
    second = drafted(api, school())
    with platform.db.read() as session:
        links = dict(session.exec(select(ContractClause.contract_id, func.count()).group_by(ContractClause.contract_id)).all())
        clauses = session.exec(select(func.count(Clause.id))).one()
    assert links[first["id"]] > 100 and links[second["id"]] > 100
    assert clauses < links[first["id"]] + 10  # the second contract added its number's paragraphs, not its articles


def test_a_contract_from_before_the_register_is_indexed_by_its_job(api, platform):
    old = drafted(api, city())
    with platform.db.write() as session:  # as the migration found it: no paragraphs yet, and its job queued
        session.execute(text("DELETE FROM contract_clause"))
        platform.jobs.enqueue(session, "register.index", {"contract_id": old["id"]}, contract_id=old["id"],
                              dedupe_key=f"register.index:{old['id']}")
    assert api.call("GET", "/contracts?text=数字城管专线", "legal").json["total"] == 0
    api.run_jobs()
    found = api.call("GET", "/contracts?text=数字城管专线", "legal").json
    assert [item["id"] for item in found["items"]] == [old["id"]]
    with platform.db.read() as session:
        assert session.get(Contract, old["id"]).current_version == 1
