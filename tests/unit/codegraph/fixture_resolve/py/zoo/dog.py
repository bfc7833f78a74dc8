from .animal import Animal


class Dog(Animal):
    def bark(self):
        self.speak()
        return self.sound, self.volume, self.registry, self.missing

    def rename(self):
        self.name, self.nick = "rex", "r"
        return self.nick
