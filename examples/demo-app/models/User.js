const users = new Map();
let nextId = 1;

class User {
  static async findById(id) {
    return users.get(Number(id)) || null;
  }

  static async create({ name, email }) {
    const user = { id: nextId++, name, email };
    users.set(user.id, user);
    return user;
  }
}

module.exports = User;
