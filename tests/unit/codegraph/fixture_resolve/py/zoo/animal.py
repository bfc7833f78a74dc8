from dataclasses import dataclass


@dataclass
class Animal:
    name: str = ""
    legs: int

    def describe(self):
        return self.name, self.legs, self.sound, self.tag

    def speak(self):
        self.sound = "..."
        self.volume: int = 1
        self.tag = "early"
        self.sound = "again"

    def __init__(self):
        self.tag = "init"

    @classmethod
    def register(cls):
        cls.registry = []
        return cls.registry

    def nested(self):
        def inner():
            self.hidden = 1

        return self.hidden, inner
