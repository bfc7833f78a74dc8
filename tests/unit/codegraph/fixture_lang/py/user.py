from conf import LIMIT
import conf

COUNT = 0


def check(n, NAME=None):
    total = COUNT + LIMIT
    NAME = n
    return conf.NAME, total, NAME


def shadow():
    COUNT = 1
    return COUNT


def bump():
    global COUNT
    COUNT = COUNT + 1


class K:
    size = LIMIT

    def get(self):
        return [LIMIT for _ in range(COUNT)]
