import shop.models as sm
import shop.base
from shop.models import Item


def main(obj):
    it = Item("k", 3)
    it.total(2)
    Item.total(it, 1)
    sm.Item.create("x")
    shop.base.Model.save(it)
    sm.Special().run()
    obj.anything()
