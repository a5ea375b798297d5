"""Drafting a contract: sales create it and revise the draft; every version pins the letters its services mandate and
asks for the register's clause text (a job written in the same transaction; the search finds it once the worker took
it, a moment after the commit).

Submitting is a decision (``ApprovalService.submit``).
"""


class DraftingService:
    def __init__(self, db, access, contracts, letters, register):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.letters = letters
        self.register = register

    def providers(self, actor, contract=None):
        """The provider profiles a draft of ``actor`` may be made for, as (code, name), and the one chosen unless they
        choose another: for a new draft every profile, their branch (else the only or the default profile) chosen; a
        contract's draft keeps the provider its number was taken under."""
        self.access.require_role(actor, "sales")
        with self.db.read() as session:
            if contract is not None:
                provider = self.contracts.provider_profile(session, contract.provider_code)
                return [(provider.code, provider.name)], provider.code
            choices = [(provider.code, provider.name) for provider in self.contracts.providers(session)]
            return choices, self.contracts.default_provider(session, actor.provider_code).code

    def create(self, actor, payload):
        """A new draft (version 1, its letters pinned) and its approval process, for the provider it names or the
        account manager's branch; returns the contract."""
        self.access.require_role(actor, "sales")
        with self.db.write() as session:  # the number in a short transaction of its own (ContractService.take_number),
            provider, data = self.contracts.draft(session, payload, actor.provider_code)  # locking its counter at its end
            number = self.contracts.take_number(session, provider, data)
        with self.db.write() as session:
            contract, version = self.contracts.create(session, provider, data, number, actor)
            self.letters.pin(session, contract, version)
            self.register.request_index(session, contract.id)
            self.contracts.start_process(session, contract, actor)
            return contract

    def revise(self, actor, contract_id, patch):
        """A new immutable version of a draft that is with sales, its letters pinned anew; returns the contract."""
        self.access.require_role(actor, "sales")
        with self.db.write() as session:
            contract, version = self.contracts.update(session, contract_id, patch, actor)
            self.letters.pin(session, contract, version)
            self.register.request_index(session, contract.id)
            return contract
