from .base import Model
from . import base as b


class Item(Model):
    def __init__(self, key, price):
        super().__init__(key)
        self.price = price

    def total(self, n):
        self.save()
        return self.price * n + len(self.key)

    def other(self):
        return self.missing, self.unknown()


class Special(b.Model):
    def run(self):
        handler = self.save
        return self.table, handler()
