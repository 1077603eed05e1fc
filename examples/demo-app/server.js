const express = require("express");
const api = require("./routes/api");

const app = express();
app.use(express.json());
app.use("/api", api);

const port = process.env.PORT || 3000;
app.listen(port, () => console.log(`listening on ${port}`));
