class Model:
    table = "models"

    def __init__(self, key):
        self.key = key
        self.dirty, self.saved = False, False

    def save(self):
        self.saved = True
        return self.table

    @classmethod
    def create(cls, key):
        cls.check(key)
        return cls(key)

    @classmethod
    def check(cls, key):
        return cls.table, key
