"""Drafting a contract: sales create it and revise the draft; every version pins the letters its services mandate.

Submitting is a decision (``ApprovalService.submit``).
"""


class DraftingService:
    def __init__(self, db, access, contracts, letters):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.letters = letters

    def create(self, actor, payload):
        """A new draft (version 1, its letters pinned) and its approval process; returns the contract."""
        self.access.require_role(actor, "sales")
        with self.db.write() as session:  # the number in a short transaction of its own (ContractService.take_number),
            provider, data = self.contracts.draft(session, payload)  # which locks its counter only at its very end
            number = self.contracts.take_number(session, provider, data)
        with self.db.write() as session:
            contract, version = self.contracts.create(session, provider, data, number, actor)
            self.letters.pin(session, contract, version)
            self.contracts.start_process(session, contract, actor)
            return contract

    def revise(self, actor, contract_id, patch):
        """A new immutable version of a draft that is with sales, its letters pinned anew; returns the contract."""
        self.access.require_role(actor, "sales")
        with self.db.write() as session:
            contract, version = self.contracts.update(session, contract_id, patch, actor)
            self.letters.pin(session, contract, version)
            return contract
